// The components page: each stored component with its digest, name, kind,
// size and the workflows that run it; a name's versions on demand; and an
// upload by drag and drop (or a file picker), answered with what the API
// stored.

import { useRef, useState } from "../vendor/hooks.mjs";
import { call, get, segment, withQuery } from "../api.js";
import { Digest, Field, LoadError, Notice, Time, bytes, failure, html, usePolling } from "../ui.js";

/** Largest file the page sends, in bytes: the host's default upload limit (64 MiB). */
const MOST_BYTES = 64 << 20;

function Upload({ onDone }) {
  // Read when a file comes, so that it is the name as typed by then.
  const nameInput = useRef(null);
  const [over, setOver] = useState(false);
  const [notice, setNotice] = useState(null);
  const send = async (file) => {
    if (!file) return;
    if (file.size > MOST_BYTES) {
      setNotice({ ok: false, text: `${file.name} is ${bytes(file.size)}; the host takes at most ${bytes(MOST_BYTES)} by default.` });
      return;
    }
    setNotice({ ok: true, text: `Uploading ${file.name}…` });
    try {
      const body = new Uint8Array(await file.arrayBuffer());
      const { status, data } = await call("POST", withQuery("/v1/components", { name: nameInput.current.value.trim() }), { bytes: body });
      const what = status === 201 ? "Stored" : "Already stored";
      setNotice({ ok: true, text: `${what}: ${data.kind} ${data.digest}${data.name ? ` as ${data.name}` : ""} (${bytes(data.size)}).` });
      onDone();
    } catch (error) {
      setNotice(failure(error));
    }
  };
  const drop = (event) => {
    event.preventDefault();
    setOver(false);
    send(event.dataTransfer.files[0]);
  };
  return html`<section class="panel" aria-labelledby="upload-title">
    <h2 id="upload-title">Upload a component</h2>
    <${Field} id="upload-name" label="Name (optional)">
      <input id="upload-name" ref=${nameInput} pattern="[A-Za-z0-9._\\-]{1,128}" placeholder="e.g. billing" /><//>
    <div class=${`dropzone ${over ? "over" : ""}`} data-testid="dropzone"
      onDragOver=${(e) => { e.preventDefault(); setOver(true); }} onDragLeave=${() => setOver(false)} onDrop=${drop}>
      <p>Drop a <code>.wasm</code> component here, or</p>
      <label class="button">Choose a file
        <input type="file" class="visually-hidden" accept=".wasm,application/wasm"
          onChange=${(e) => send(e.target.files[0])} /></label>
    </div>
    <${Notice} notice=${notice} />
  </section>`;
}

/** How many workflows run a component, linked to them. */
function Usage({ digest }) {
  const [counts, error] = usePolling(() => get(withQuery("/v1/workflow-counts", { component: digest })), [digest], false);
  if (error) return html`<span class="muted" title=${error.message}>?</span>`;
  if (!counts) return html`<span class="muted">…</span>`;
  const running = counts.total - ["completed", "failed", "stuck", "cancelled", "terminated"]
    .reduce((sum, status) => sum + (counts.counts[status] || 0), 0);
  return html`<a href=${withQuery("#/workflows", { component: digest })}>${counts.total} workflows</a>
    ${running > 0 && html` <span class="muted">(${running} open)</span>`}`;
}

/** The versions pushed under a name, fetched when asked for. */
function Versions({ name }) {
  const [shown, setShown] = useState(false);
  const [versions, error] = usePolling(
    async () => (shown ? (await get(`/v1/components/${segment(name)}`)).versions || [] : null), [name, shown], false);
  if (!shown) return html`<button type="button" class="link" onClick=${() => setShown(true)}>versions</button>`;
  if (error) return html`<span class="muted">${error.message}</span>`;
  if (!versions) return html`<span class="muted">…</span>`;
  return html`<ol class="versions">${versions.map((v, i) => html`<li key=${v.digest}>
    <${Digest} digest=${v.digest} /> ${i === 0 ? "(current)" : ""} pushed <${Time} at=${v.pushed_at} /></li>`)}</ol>`;
}

export function ComponentsPage() {
  const [list, error, reload] = usePolling(async () => (await get("/v1/components")).components, [], false);
  return html`<section aria-labelledby="components-title">
    <h1 id="components-title">Components</h1>
    <${Upload} onDone=${reload} />
    <${LoadError} error=${error} />
    <table class="list" aria-busy=${!list}>
      <caption class="visually-hidden">Stored components, newest first</caption>
      <thead><tr><th scope="col">Name</th><th scope="col">Digest</th><th scope="col">Kind</th>
        <th scope="col">Size</th><th scope="col">Stored</th><th scope="col">Used by</th></tr></thead>
      <tbody>
        ${list && list.map((c) => html`<tr key=${c.digest}>
          <td data-label="Name">${c.name ? html`${c.name} <${Versions} name=${c.name} />` : html`<span class="muted">—</span>`}</td>
          <td data-label="Digest"><${Digest} digest=${c.digest} /></td>
          <td data-label="Kind">${c.kind}</td>
          <td data-label="Size">${bytes(c.size)}</td>
          <td data-label="Stored"><${Time} at=${c.created_at} /></td>
          <td data-label="Used by">${c.kind === "workflow" ? html`<${Usage} digest=${c.digest} />` : html`<span class="muted">activity</span>`}</td>
        </tr>`)}
        ${list && list.length === 0 && html`<tr><td colspan="6" class="muted">No components yet: upload one above.</td></tr>`}
      </tbody>
    </table>
  </section>`;
}
