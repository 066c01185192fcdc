// Pieces every page uses: the `html` template tag (htm bound to Preact), times
// and durations, JSON, statuses, action answers and live refresh.

import { h } from "./vendor/preact.mjs";
import { useEffect, useRef, useState } from "./vendor/hooks.mjs";
import htm from "./vendor/htm.mjs";

/** JSX-like templates without a build step: html`<p>${text}</p>`. */
export const html = htm.bind(h);

/** How often live pages read the API again, in ms. */
export const REFRESH_MS = 2000;

/** The statuses of a workflow, in the order the API lists them. */
export const STATUSES = [
  "running", "sleeping", "waiting", "completed", "failed", "stuck", "cancelled", "terminated",
];

/** Statuses a workflow never leaves (but for `stuck`, by an upgrade). */
export const FINAL = new Set(["completed", "failed", "stuck", "cancelled", "terminated"]);

/** An RFC 3339 time in the viewer's time zone, with UTC on hover. */
export function Time({ at }) {
  if (!at) return html`<span class="muted">—</span>`;
  const date = new Date(at);
  return html`<time datetime=${at} title=${`${at} (UTC)`}>${date.toLocaleString()}</time>`;
}

/** `ms` as a short duration: 850 ms, 12.3 s, 4 min 10 s, 2 h 5 min, 3 d 4 h. */
export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const parts = [[86400, "d"], [3600, "h"], [60, "min"], [1, "s"]];
  const out = [];
  let rest = Math.floor(s);
  for (const [size, unit] of parts) {
    if (rest >= size) {
      out.push(`${Math.floor(rest / size)} ${unit}`);
      rest %= size;
    }
    if (out.length === 2) break;
  }
  return out.join(" ");
}

/** How long a workflow has run: to its last change once final, else to now. */
export function workflowDuration(workflow) {
  const end = FINAL.has(workflow.status) ? Date.parse(workflow.updated_at) : Date.now();
  return duration(end - Date.parse(workflow.created_at));
}

/** A status as a badge (colour and text, never colour alone). */
export function Status({ status }) {
  return html`<span class=${`status status-${status}`}>${status}</span>`;
}

/** Any JSON value, formatted, in a scrollable block. */
export function Json({ value, label }) {
  const text = value === undefined ? "" : JSON.stringify(value, null, 2);
  return html`<pre class="json" tabindex="0" aria-label=${label}>${text}</pre>`;
}

/** `sha256:0123456789ab…`: a digest short enough for a table cell, whole on hover. */
export function Digest({ digest }) {
  if (!digest) return html`<span class="muted">—</span>`;
  return html`<code class="digest" title=${digest}>${digest.slice(0, 19)}…</code>`;
}

/** A size in bytes as B, KiB or MiB. */
export function bytes(size) {
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KiB`;
  return `${(size / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * The answer to the last action, read out to screen readers: `notice` is
 * `{ ok, text }` or null.
 */
export function Notice({ notice }) {
  return html`<p class=${`notice ${notice ? (notice.ok ? "ok" : "bad") : ""}`} role="status" aria-live="polite">
    ${notice ? notice.text : ""}</p>`;
}

/** An ApiError (or any error) as a notice. */
export function failure(error) {
  const code = error.code ? ` (${error.status} ${error.code})` : "";
  return { ok: false, text: `${error.message}${code}` };
}

/**
 * A button that asks again before it acts: the first press arms it, the
 * second (within 5 s) calls `onConfirm`.
 */
export function ConfirmButton({ label, confirm, onConfirm, disabled, danger }) {
  const [armed, setArmed] = useState(false);
  useEffect(() => {
    if (!armed) return undefined;
    const timer = setTimeout(() => setArmed(false), 5000);
    return () => clearTimeout(timer);
  }, [armed]);
  const press = () => {
    if (armed) {
      setArmed(false);
      onConfirm();
    } else {
      setArmed(true);
    }
  };
  return html`<button type="button" class=${danger ? "danger" : ""} disabled=${disabled} onClick=${press}
    aria-pressed=${armed}>${armed ? confirm : label}</button>`;
}

/**
 * Runs `load()` now, whenever `deps` change, and every REFRESH_MS while
 * `live` is true and the tab is visible. Resolves to `[data, error, reload]`.
 */
export function usePolling(load, deps, live) {
  const [state, setState] = useState({ data: null, error: null });
  const generation = useRef(0);
  const reload = async () => {
    const mine = ++generation.current;
    try {
      const data = await load();
      if (mine === generation.current) setState({ data, error: null });
    } catch (error) {
      if (mine === generation.current) setState((old) => ({ data: old.data, error }));
    }
  };
  useEffect(() => {
    setState({ data: null, error: null });
    reload();
  }, deps);
  useEffect(() => {
    if (!live) return undefined;
    const timer = setInterval(() => {
      if (document.visibilityState === "visible") reload();
    }, REFRESH_MS);
    return () => clearInterval(timer);
  }, [live, ...deps]);
  return [state.data, state.error, reload];
}

/** A labelled form control: `children` is the control, whose id must be `id`. */
export function Field({ id, label, grow, children }) {
  return html`<div class=${`field ${grow ? "grow" : ""}`}><label for=${id}>${label}</label>${children}</div>`;
}

/** An error loading a page, with the API's message. */
export function LoadError({ error }) {
  if (!error) return null;
  return html`<p class="notice bad" role="alert">${failure(error).text}</p>`;
}
