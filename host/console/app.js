// The console's shell: the routes (in the URL's hash, so that any page can be
// bookmarked and the host serves one HTML file), the header, the token
// prompt and the colour theme.

import { render } from "./vendor/preact.mjs";
import { useEffect, useState } from "./vendor/hooks.mjs";
import { onUnauthorized, setToken, token } from "./api.js";
import { Field, html } from "./ui.js";
import { WorkflowsPage } from "./pages/workflows.js";
import { WorkflowPage } from "./pages/workflow.js";
import { ComponentsPage } from "./pages/components.js";
import { SchedulePage, SchedulesPage } from "./pages/schedules.js";

/**
 * The page a hash names: `#/workflows?…`, `#/workflows/{id}`,
 * `#/schedules`, `#/schedules/{id}` or `#/components`.
 */
function route(hash) {
  const [path, query = ""] = hash.replace(/^#/, "").split("?");
  const params = new URLSearchParams(query);
  const parts = path.split("/").filter(Boolean);
  if (parts[0] === "workflows" && parts.length > 1) {
    return { page: "workflow", id: decodeURIComponent(parts.slice(1).join("/")), params };
  }
  if (parts[0] === "schedules" && parts.length > 1) {
    return { page: "schedule", id: decodeURIComponent(parts.slice(1).join("/")), params };
  }
  if (parts[0] === "schedules") return { page: "schedules", params };
  if (parts[0] === "components") return { page: "components", params };
  return { page: "workflows", params };
}

function useHash() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const changed = () => setHash(location.hash);
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return hash;
}

const THEME_KEY = "duro.theme";
const THEMES = ["auto", "light", "dark"];

/** The colour theme: the system's (auto), light or dark; kept in local storage. */
function useTheme() {
  const [theme, setTheme] = useState(localStorage.getItem(THEME_KEY) || "auto");
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem(THEME_KEY, theme);
  }, [theme]);
  const next = () => setTheme(THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length]);
  return [theme, next];
}

/** Asks for an API token, shown when the API answers 401. */
function TokenForm({ reason, onDone, onCancel }) {
  const submit = (event) => {
    event.preventDefault();
    const value = new FormData(event.target).get("token").trim();
    setToken(value || null);
    onDone();
  };
  return html`<section class="panel token" aria-labelledby="token-title">
    <h2 id="token-title">API token</h2>
    <p>${reason || "This duro serve asks for an API token."} It is kept in this tab only (session storage).</p>
    <form onSubmit=${submit}>
      <${Field} id="token-input" label="Token">
        <input id="token-input" name="token" type="password" autocomplete="off" required autofocus /><//>
      <button type="submit">Use token</button>
      ${onCancel && html`<button type="button" onClick=${onCancel}>Cancel</button>`}
      ${token() && html`<button type="button" onClick=${() => { setToken(null); onDone(); }}>Forget token</button>`}
    </form>
  </section>`;
}

function App() {
  const current = route(useHash());
  const [theme, nextTheme] = useTheme();
  const [asking, setAsking] = useState(null);
  // Bumped when the token changes, so that the page loads again with it.
  const [generation, setGeneration] = useState(0);
  useEffect(() => onUnauthorized((error) => setAsking({ reason: error.message })), []);
  const tokenDone = () => {
    setAsking(null);
    setGeneration(generation + 1);
  };
  const link = (page, label) => html`<a href=${`#/${page}`}
    aria-current=${current.page.startsWith(page.replace(/s$/, "")) ? "page" : undefined}>${label}</a>`;
  let page;
  // Keyed by id: another workflow's page starts afresh (its notices, forms).
  if (current.page === "workflow") page = html`<${WorkflowPage} key=${current.id} id=${current.id} />`;
  else if (current.page === "schedule") page = html`<${SchedulePage} key=${current.id} id=${current.id} />`;
  else if (current.page === "schedules") page = html`<${SchedulesPage} />`;
  else if (current.page === "components") page = html`<${ComponentsPage} />`;
  else page = html`<${WorkflowsPage} params=${current.params} />`;
  return html`
    <a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); document.getElementById("main").focus(); }}>
      Skip to content</a>
    <header class="top">
      <a class="brand" href="#/workflows">duro</a>
      <nav aria-label="Pages">${link("workflows", "Workflows")} ${link("schedules", "Schedules")}
        ${link("components", "Components")}</nav>
      <div class="top-actions">
        <button type="button" onClick=${() => setAsking({ reason: "Set the API token of this tab." })}>
          ${token() ? "Token ✓" : "Token"}</button>
        <button type="button" onClick=${nextTheme} title="Colour theme: auto follows the system">
          Theme: ${theme}</button>
      </div>
    </header>
    <main id="main" tabindex="-1">
      ${asking
        ? html`<${TokenForm} reason=${asking.reason} onDone=${tokenDone} onCancel=${() => setAsking(null)} />`
        : html`<div key=${generation}>${page}</div>`}
    </main>`;
}

const root = document.getElementById("app");
root.textContent = "";
render(html`<${App} />`, root);
