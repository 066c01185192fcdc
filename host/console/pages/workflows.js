// The workflows page: counts per status, filters (status, component, id
// prefix), a page of workflows newest first with cursor pagination, and live
// refresh. The filters live in the URL's hash, so a filtered list can be
// bookmarked or shared.

import { useEffect, useRef, useState } from "../vendor/hooks.mjs";
import { get, withQuery } from "../api.js";
import { Digest, Field, LoadError, STATUSES, Status, Time, html, usePolling, workflowDuration } from "../ui.js";

/** Workflows per page. */
const PAGE = 25;

/** Sets the list's filters in the hash (a new history entry, so Back undoes it). */
function setFilters(filters) {
  location.hash = withQuery("#/workflows", filters);
}

/** Counts per status, each a button that filters the list by it. */
function Counts({ counts, filters }) {
  if (!counts) return html`<div class="counts" aria-busy="true"></div>`;
  const pick = (status) => setFilters({ ...filters, status: filters.status === status ? "" : status });
  return html`<div class="counts" role="group" aria-label="Workflows by status">
    <button type="button" class=${`count ${filters.status ? "" : "selected"}`} aria-pressed=${!filters.status}
      onClick=${() => setFilters({ ...filters, status: "" })}>
      <span class="count-n">${counts.total}</span> all</button>
    ${STATUSES.map((status) => html`<button type="button" key=${status} data-status=${status}
      class=${`count count-${status} ${filters.status === status ? "selected" : ""}`}
      aria-pressed=${filters.status === status} onClick=${() => pick(status)}>
      <span class="count-n">${counts.counts[status] ?? 0}</span> ${status}</button>`)}
  </div>`;
}

function Filters({ filters, components }) {
  const search = useRef(null);
  const [prefix, setPrefix] = useState(filters.id_prefix || "");
  useEffect(() => setPrefix(filters.id_prefix || ""), [filters.id_prefix]);
  // `/` focuses the search field, as in many consoles.
  useEffect(() => {
    const key = (event) => {
      const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement?.tagName);
      if (event.key === "/" && !typing) {
        event.preventDefault();
        search.current?.focus();
      }
    };
    addEventListener("keydown", key);
    return () => removeEventListener("keydown", key);
  }, []);
  // The search applies 300 ms after the last key.
  useEffect(() => {
    if (prefix === (filters.id_prefix || "")) return undefined;
    const timer = setTimeout(() => setFilters({ ...filters, id_prefix: prefix }), 300);
    return () => clearTimeout(timer);
  }, [prefix]);
  const names = (components || []).filter((c) => c.kind === "workflow");
  return html`<form class="filters" role="search" onSubmit=${(e) => {
    e.preventDefault();
    setFilters({ ...filters, id_prefix: prefix });
  }}>
    <${Field} id="filter-status" label="Status">
      <select id="filter-status" value=${filters.status || ""}
        onChange=${(e) => setFilters({ ...filters, status: e.target.value })}>
        <option value="">any</option>
        ${STATUSES.map((status) => html`<option key=${status} value=${status}>${status}</option>`)}
      </select><//>
    <${Field} id="filter-component" label="Component">
      <select id="filter-component" value=${filters.component || ""}
        onChange=${(e) => setFilters({ ...filters, component: e.target.value })}>
        <option value="">any</option>
        ${names.map((c) => html`<option key=${c.digest} value=${c.digest}>
          ${c.name ? `${c.name} (${c.digest.slice(7, 19)})` : c.digest.slice(0, 19)}</option>`)}
      </select><//>
    <${Field} id="filter-id" label="Id starts with">
      <input id="filter-id" type="search" ref=${search} value=${prefix} placeholder="press / to search"
        maxlength="128" autocomplete="off" onInput=${(e) => setPrefix(e.target.value)} /><//>
  </form>`;
}

function Row({ workflow, names }) {
  const name = names.get(workflow.component);
  return html`<tr>
    <td data-label="Status"><${Status} status=${workflow.status} /></td>
    <td data-label="Id"><a class="workflow-link" href=${`#/workflows/${encodeURIComponent(workflow.id)}`}>${workflow.id}</a></td>
    <td data-label="Component">${name ? html`<span title=${workflow.component}>${name}</span>` : html`<${Digest} digest=${workflow.component} />`}</td>
    <td data-label="Started"><${Time} at=${workflow.created_at} /></td>
    <td data-label="Duration">${workflowDuration(workflow)}</td>
  </tr>`;
}

export function WorkflowsPage({ params }) {
  const filters = {
    status: params.get("status") || "",
    component: params.get("component") || "",
    id_prefix: params.get("id_prefix") || "",
    schedule: params.get("schedule") || "",
  };
  const key = JSON.stringify(filters);
  // Cursors of the pages before this one; the last is this page's.
  const [cursors, setCursors] = useState([null]);
  const [live, setLive] = useState(true);
  useEffect(() => setCursors([null]), [key]);
  const cursor = cursors[cursors.length - 1];
  const [components] = usePolling(async () => (await get("/v1/components")).components, [], false);
  const [counts, countsError] = usePolling(
    () => get(withQuery("/v1/workflow-counts", { component: filters.component })), [filters.component], live);
  const [page, error] = usePolling(
    () => get(withQuery("/v1/workflows", { ...filters, limit: PAGE, cursor })), [key, cursor], live);
  const names = new Map((components || []).filter((c) => c.name).map((c) => [c.digest, c.name]));
  return html`<section aria-labelledby="workflows-title">
    <div class="title-row">
      <h1 id="workflows-title">Workflows</h1>
      <label class="live"><input type="checkbox" checked=${live} onChange=${(e) => setLive(e.target.checked)} />
        Live refresh</label>
    </div>
    <${Counts} counts=${counts} filters=${filters} />
    <${Filters} filters=${filters} components=${components} />
    ${filters.schedule && html`<p class="chip-row">Started by schedule <strong>${filters.schedule}</strong>
      <button type="button" class="chip" onClick=${() => setFilters({ ...filters, schedule: "" })}
        aria-label="Show workflows of every schedule">✕</button></p>`}
    <${LoadError} error=${error || countsError} />
    <table class="list" aria-busy=${!page}>
      <caption class="visually-hidden">Workflows, newest first</caption>
      <thead><tr><th scope="col">Status</th><th scope="col">Id</th><th scope="col">Component</th>
        <th scope="col">Started</th><th scope="col">Duration</th></tr></thead>
      <tbody>
        ${page && page.workflows.map((w) => html`<${Row} key=${w.id} workflow=${w} names=${names} />`)}
        ${page && page.workflows.length === 0 && html`<tr><td colspan="5" class="muted">No workflows match.</td></tr>`}
      </tbody>
    </table>
    <nav class="pager" aria-label="Pages of workflows">
      <button type="button" disabled=${cursors.length === 1}
        onClick=${() => setCursors(cursors.slice(0, -1))}>← Newer</button>
      <span class="muted">Page ${cursors.length}</span>
      <button type="button" disabled=${!page || !page.next_cursor}
        onClick=${() => setCursors([...cursors, page.next_cursor])}>Older →</button>
    </nav>
  </section>`;
}
