// The workflow page: what a workflow was given and returned, its error (a
// trap's backtrace, or where a `stuck` replay diverged), what it waits on,
// its parent and children, its journal as a timeline with each effect
// attempt, its logs, and the actions: signal, cancel, terminate, and
// upgrade after a replay check. Every action shows the API's answer.

import { useEffect, useRef, useState } from "../vendor/hooks.mjs";
import { call, get, segment, withQuery } from "../api.js";
import {
  ConfirmButton, Digest, FINAL, Field, Json, LoadError, Notice, Status, Time, duration, failure, html, usePolling,
  workflowDuration,
} from "../ui.js";

/** Journal entries or log lines asked for per request. */
const PAGE = 1000;
/** Most journal entries or log lines the page holds. */
const MOST_SHOWN = 20000;

/**
 * The items of a paged listing (`path?after=…`), read from the start and then
 * only what is new each time `trigger` changes. `position(item)` is what
 * `after` takes; `field` names the list in the answer.
 */
function useTail(path, field, position, trigger) {
  const [state, setState] = useState({ items: [], error: null });
  const held = useRef({ path, items: [], busy: false });
  useEffect(() => {
    held.current = { path, items: [], busy: false };
    setState({ items: [], error: null });
  }, [path]);
  useEffect(() => {
    const mine = held.current;
    if (mine.busy) return;
    mine.busy = true;
    (async () => {
      while (mine.items.length < MOST_SHOWN) {
        const last = mine.items[mine.items.length - 1];
        const page = await get(withQuery(path, { after: last ? position(last) : undefined, limit: PAGE }));
        const got = page[field];
        if (got.length === 0 || held.current !== mine) break;
        mine.items = mine.items.concat(got);
        setState({ items: mine.items, error: null });
      }
    })()
      .catch((error) => held.current === mine && setState({ items: mine.items, error }))
      .finally(() => {
        mine.busy = false;
      });
  }, [path, trigger]);
  return [state.items, state.error];
}

/** `, retried after …` for an effect attempt that its retry policy repeats. */
function retried(entry) {
  const at = entry.response.retry_at;
  return at ? `, retried after ${duration(Date.parse(at) - Date.parse(entry.recorded_at))}` : "";
}

/** A one-line summary of a journal entry's call and outcome. */
function summary(entry) {
  const { kind, request: rq, response: rs } = entry;
  const outcome = rs.error ? `error ${rs.error.type}: ${rs.error.message}` : "";
  switch (kind) {
    case "sleep":
    case "start_timer":
      return `${duration(rq.duration_ns / 1e6)}${rs.wake_at ? ` → wakes at ${new Date(rs.wake_at).toLocaleString()}` : ""}`;
    case "now":
    case "wasi_wall_clock":
    case "wasi_monotonic_clock":
      return `${rs.ns} ns`;
    case "random_u64":
      return String(rs.value);
    case "wasi_random_bytes":
      return `${rq.len} bytes`;
    case "http":
      return `${rq.method} ${rq.url} · attempt ${rq.attempt} → ${rs.in_flight ? "in flight" : outcome || rs.status}${retried(entry)}`;
    case "activity":
      return `${rq.component} · attempt ${rq.attempt} → ${rs.in_flight ? "in flight" : outcome || "ok"}${retried(entry)}`;
    case "receive_signal":
      return rq.name;
    case "start_child":
      return `${rq.id ?? "child"} → ${rs.started ? `started ${rs.started.id}` : `refused: ${rs.refused}`}`;
    case "cancel_child":
      return rq.id;
    case "wait_any": {
      const keys = rq.keys.map((key) => (typeof key === "string" ? key : JSON.stringify(key))).join(", ");
      if (rs.cancelled) return `${keys} → cancelled`;
      const won = rs.outcome ? Object.keys(rs.outcome)[0] : "";
      return `${keys} → #${rs.index} ${won}`;
    }
    case "set_event":
      return rq.key;
    default:
      return "";
  }
}

/** The journal, one row per entry: time, seq, kind, summary and how long it took; each opens to its request and response. */
function Timeline({ entries, highlight }) {
  if (entries.length === 0) return html`<p class="muted">No journal entries yet.</p>`;
  return html`<ol class="timeline">
    ${entries.map((entry, index) => {
      const previous = entries[index - 1];
      const took = entry.response.duration_ms !== undefined
        ? duration(entry.response.duration_ms)
        : previous ? `+${duration(Date.parse(entry.recorded_at) - Date.parse(previous.recorded_at))}` : "";
      const failed = Boolean(entry.response.error || entry.response.retry_at);
      return html`<li key=${entry.seq} id=${`seq-${entry.seq}`}
        class=${`entry ${entry.seq === highlight ? "diverged" : ""} ${failed ? "entry-failed" : ""}`}>
        <details open=${entry.seq === highlight}>
          <summary>
            <span class="seq">#${entry.seq}</span>
            <span class=${`kind kind-${entry.kind}`}>${entry.kind}</span>
            <span class="what">${summary(entry)}</span>
            <span class="took">${took}</span>
            <${Time} at=${entry.recorded_at} />
          </summary>
          <div class="entry-body">
            <h4>Request</h4><${Json} value=${entry.request} label=${`request of entry ${entry.seq}`} />
            <h4>Response</h4><${Json} value=${entry.response} label=${`response of entry ${entry.seq}`} />
          </div>
        </details>
      </li>`;
    })}
  </ol>`;
}

function Logs({ lines }) {
  if (lines.length === 0) return html`<p class="muted">No log lines.</p>`;
  return html`<ol class="logs" tabindex="0" aria-label="Log lines">
    ${lines.map((line) => html`<li key=${line.cursor} class=${`log log-${line.level}`}>
      <${Time} at=${line.at} /> <span class="level">${line.level}</span>
      <span class="stream">${line.stream}</span> <span class="message">${line.message}</span></li>`)}
  </ol>`;
}

/** The error: a failure's message and backtrace, or a stuck workflow's divergence. */
function ErrorPanel({ detail }) {
  if (detail.divergence) {
    const d = detail.divergence;
    return html`<section class="panel error-panel" aria-labelledby="error-title">
      <h2 id="error-title">Non-determinism</h2>
      <p>Replaying the journal, the workflow made another call than the one recorded. It is stopped until it is upgraded to a component whose replay matches.</p>
      <dl class="divergence">
        <dt>Seq</dt><dd><a href=${`#seq-${d.seq}`} class="divergence-seq" onClick=${(e) => {
          e.preventDefault();
          document.getElementById(`seq-${d.seq}`)?.scrollIntoView({ block: "center" });
        }}>${d.seq}</a></dd>
        <dt>Recorded call</dt><dd><code class="divergence-recorded">${d.recorded}</code></dd>
        <dt>New call</dt><dd><code class="divergence-attempted">${d.attempted ?? "none: the workflow returned"}</code></dd>
      </dl>
    </section>`;
  }
  if (!detail.error) return null;
  return html`<section class="panel error-panel" aria-labelledby="error-title">
    <h2 id="error-title">Error</h2>
    <pre class="error-text" tabindex="0">${detail.error}</pre>
  </section>`;
}

/** What a workflow waits on, and its family. */
function Waits({ detail, onPickSignal }) {
  const w = detail.waits_for;
  const rows = [];
  if (w) {
    if (w.signals.length) {
      rows.push(html`<dt>Signals</dt><dd>${w.signals.map((name) => html`<button type="button" class="chip"
        title="Fill the signal form with this name" onClick=${() => onPickSignal(name)}>${name}</button> `)}</dd>`);
    }
    if (w.children.length) {
      rows.push(html`<dt>Children</dt><dd>${w.children.map((id) => html`<a href=${`#/workflows/${segment(id)}`}>${id}</a> `)}</dd>`);
    }
    if (w.timer_at) rows.push(html`<dt>Timer</dt><dd><${Time} at=${w.timer_at} /></dd>`);
    if (w.cancellation) rows.push(html`<dt>Cancellation</dt><dd>a cancel request wakes it</dd>`);
  }
  const on = detail.waiting_on;
  if (on) {
    const next = on.next_attempt_at ? html`, next at <${Time} at=${on.next_attempt_at} />` : "";
    rows.push(html`<dt>Effect</dt><dd>${on.effect}: attempt ${on.attempt}${on.max_attempts ? ` of ${on.max_attempts}` : ""}, ${on.state.replace("_", " ")}${next}</dd>`);
  }
  if (detail.deadline) rows.push(html`<dt>Deadline</dt><dd><${Time} at=${detail.deadline} /></dd>`);
  if (detail.cancel_requested_at) rows.push(html`<dt>Cancel requested</dt><dd><${Time} at=${detail.cancel_requested_at} /></dd>`);
  if (detail.parent) rows.push(html`<dt>Parent</dt><dd><a class="parent-link" href=${`#/workflows/${segment(detail.parent)}`}>${detail.parent}</a></dd>`);
  if (detail.children.length) {
    rows.push(html`<dt>Children</dt><dd><ul class="children">${detail.children.map((child) => html`<li key=${child.id}>
      <a href=${`#/workflows/${segment(child.id)}`}>${child.id}</a> <${Status} status=${child.status} /></li>`)}</ul></dd>`);
  }
  if (rows.length === 0) return null;
  return html`<section class="panel" aria-labelledby="waits-title">
    <h2 id="waits-title">Waits on and family</h2><dl class="facts">${rows}</dl></section>`;
}

function SignalForm({ path, name, setName, act, disabled }) {
  // The values are read from the form when it is sent, not from state that
  // may not have caught up with the last keystroke.
  const send = (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const signal = form.get("signal");
    let value;
    try {
      value = JSON.parse(form.get("payload"));
    } catch (error) {
      act(null, { ok: false, text: `The payload is not JSON: ${error.message}` });
      return;
    }
    act(async () => {
      const { data } = await call("POST", `${path}/signals/${segment(signal)}`, { json: value });
      return `Signal ${data.name} stored (arrival ${data.arrival}${data.duplicate ? ", a duplicate" : ""}).`;
    });
  };
  return html`<form class="action-form" onSubmit=${send} aria-label="Send a signal">
    <${Field} id="signal-name" label="Signal name">
      <input id="signal-name" name="signal" required value=${name} onInput=${(e) => setName(e.target.value)} /><//>
    <${Field} id="signal-payload" label="Payload (JSON)" grow>
      <textarea id="signal-payload" name="payload" rows="3" defaultValue="null"></textarea><//>
    <button type="submit" disabled=${disabled}>Send signal</button>
  </form>`;
}

function UpgradeForm({ path, act }) {
  // The verdict of the last check, for the component it checked.
  const [verdict, setVerdict] = useState(null);
  const check = (event) => {
    event.preventDefault();
    const component = new FormData(event.target).get("component").trim();
    act(async () => {
      const { data } = await call("POST", `${path}/replay`, { json: { component } });
      setVerdict({ component, ok: data.ok });
      if (data.ok) return `The journal replays on ${component}: ${data.replayed} entries.`;
      if (data.divergence) return `The journal does not replay: ${data.divergence.message}`;
      return `The replay failed: ${data.failed}`;
    }, true);
  };
  const upgrade = () => act(async () => {
    const { data } = await call("POST", `${path}/upgrade`, { json: { component: verdict.component } });
    setVerdict(null);
    return `Upgraded: the workflow now runs ${data.component} and is ${data.status}.`;
  });
  return html`<form class="action-form" aria-label="Upgrade" onSubmit=${check}>
    <${Field} id="upgrade-component" label="Component (digest or name)">
      <input id="upgrade-component" name="component" required onInput=${() => setVerdict(null)} /><//>
    <button type="submit">Check replay</button>
    <button type="button" disabled=${!verdict || !verdict.ok} onClick=${upgrade}>
      ${verdict && verdict.ok ? `Upgrade to ${verdict.component}` : "Upgrade"}</button>
  </form>`;
}

export function WorkflowPage({ id }) {
  const path = `/v1/workflows/${segment(id)}`;
  const [ended, setEnded] = useState(false);
  const [notice, setNotice] = useState(null);
  const [signalName, setSignalName] = useState("");
  const [detail, error, reload] = usePolling(() => get(path), [id], !ended);
  useEffect(() => {
    setEnded(Boolean(detail && FINAL.has(detail.status)));
    if (detail && !signalName && detail.waits_for && detail.waits_for.signals.length) {
      setSignalName(detail.waits_for.signals[0]);
    }
  }, [detail]);
  const [entries, journalError] = useTail(`${path}/journal`, "entries", (e) => e.seq, detail);
  const [lines, logsError] = useTail(`${path}/logs`, "lines", (l) => l.cursor, detail);

  /** Runs an action and shows its answer; `keep` leaves the page as it is. */
  const act = async (action, preset, keep) => {
    if (!action) {
      setNotice(preset);
      return;
    }
    setNotice({ ok: true, text: "Sending…" });
    try {
      setNotice({ ok: true, text: await action() });
      if (!keep) {
        setEnded(false);
        await reload();
      }
    } catch (failed) {
      setNotice(failure(failed));
    }
  };
  const runAct = (action, keep) => act(action, null, keep);

  if (!detail) {
    return html`<section><h1>Workflow <code>${id}</code></h1><${LoadError} error=${error} />
      ${!error && html`<p class="muted">Loading…</p>`}</section>`;
  }
  const open = !FINAL.has(detail.status);
  return html`<section aria-labelledby="workflow-title">
    <p><a href="#/workflows">← Workflows</a></p>
    <div class="title-row">
      <h1 id="workflow-title"><code>${detail.id}</code></h1>
      <${Status} status=${detail.status} />
    </div>
    <${LoadError} error=${error || journalError || logsError} />
    <dl class="facts summary">
      <dt>Component</dt><dd><a href=${withQuery("#/workflows", { component: detail.component })}><${Digest} digest=${detail.component} /></a></dd>
      <dt>Started</dt><dd><${Time} at=${detail.created_at} /></dd>
      <dt>Last change</dt><dd><${Time} at=${detail.updated_at} /></dd>
      <dt>Duration</dt><dd>${workflowDuration(detail)}</dd>
      ${detail.schedule && html`<dt>Schedule</dt><dd><a class="schedule-link"
        href=${`#/schedules/${segment(detail.schedule)}`}>${detail.schedule}</a>,
        tick of <${Time} at=${detail.nominal_time} />
        (<a href=${withQuery("#/workflows", { schedule: detail.schedule })}>its workflows</a>)</dd>`}
      ${detail.host && html`<dt>Host</dt><dd><code>${detail.host}</code></dd>`}
    </dl>
    <${ErrorPanel} detail=${detail} />
    <${Notice} notice=${notice} />
    ${(open || detail.status === "stuck") && html`<section class="panel actions" aria-labelledby="actions-title">
      <h2 id="actions-title">Actions</h2>
      ${open && html`<${SignalForm} path=${path} name=${signalName} setName=${setSignalName} act=${act} />`}
      <div class="buttons">
        <${ConfirmButton} label="Cancel" confirm="Confirm cancel" disabled=${!open}
          onConfirm=${() => runAct(async () => {
            const { data } = await call("POST", `${path}/cancel`);
            return `Cancellation requested: the workflow is ${data.status}.`;
          })} />
        <${ConfirmButton} label="Terminate" confirm="Confirm terminate" danger disabled=${!open}
          onConfirm=${() => runAct(async () => {
            const { data } = await call("POST", withQuery(`${path}/cancel`, { force: true }));
            return `Terminated: the workflow is ${data.status}.`;
          })} />
      </div>
      <${UpgradeForm} path=${path} act=${(a, keep) => runAct(a, keep)} />
    </section>`}
    <div class="columns">
      <section class="panel" aria-labelledby="input-title">
        <h2 id="input-title">Input</h2><${Json} value=${detail.input} label="input" /></section>
      <section class="panel" aria-labelledby="output-title">
        <h2 id="output-title">Output</h2>
        ${detail.output === null ? html`<p class="muted">None yet.</p>` : html`<${Json} value=${detail.output} label="output" />`}
      </section>
    </div>
    <${Waits} detail=${detail} onPickSignal=${setSignalName} />
    <section class="panel" aria-labelledby="journal-title">
      <h2 id="journal-title">Journal <span class="muted">(${entries.length} ${entries.length === 1 ? "entry" : "entries"})</span></h2>
      <${Timeline} entries=${entries} highlight=${detail.divergence ? detail.divergence.seq : null} />
    </section>
    <section class="panel" aria-labelledby="logs-title">
      <h2 id="logs-title">Logs</h2><${Logs} lines=${lines} /></section>
  </section>`;
}
