// The schedules pages: the list (spec, state, next tick, counts), and one
// schedule with its next ticks, the workflows it started, its skipped ticks
// with the reason, and the actions: pause and resume with a note, trigger,
// delete. Every action shows the API's answer.

import { useState } from "../vendor/hooks.mjs";
import { call, get, segment, withQuery } from "../api.js";
import { ConfirmButton, Field, LoadError, Notice, Status, Time, failure, html, usePolling } from "../ui.js";

/** `cron "0 2 * * *" in Europe/Paris` or `every 300 s`. */
function specText(spec) {
  if (spec.cron !== undefined) return `cron "${spec.cron}" in ${spec.time_zone}`;
  return `every ${spec.interval_s} s${spec.phase_s ? ` (phase ${spec.phase_s} s)` : ""}`;
}

function State({ schedule }) {
  if (schedule.paused) return html`<span class="status status-cancelled">paused</span>`;
  if (!schedule.next_tick_at) return html`<span class="status status-completed">ended</span>`;
  return html`<span class="status status-running">active</span>`;
}

export function SchedulesPage() {
  const [list, error] = usePolling(async () => (await get("/v1/schedules")).schedules, [], true);
  return html`<section aria-labelledby="schedules-title">
    <h1 id="schedules-title">Schedules</h1>
    <${LoadError} error=${error} />
    <table class="list" aria-busy=${!list}>
      <caption class="visually-hidden">Schedules, by id</caption>
      <thead><tr><th scope="col">Id</th><th scope="col">When</th><th scope="col">Component</th>
        <th scope="col">State</th><th scope="col">Next tick</th><th scope="col">Started</th>
        <th scope="col">Skipped</th></tr></thead>
      <tbody>
        ${list && list.map((s) => html`<tr key=${s.id}>
          <td data-label="Id"><a class="schedule-link" href=${`#/schedules/${segment(s.id)}`}>${s.id}</a></td>
          <td data-label="When">${specText(s.spec)}</td>
          <td data-label="Component">${s.component}</td>
          <td data-label="State"><${State} schedule=${s} /></td>
          <td data-label="Next tick"><${Time} at=${s.next_tick_at} /></td>
          <td data-label="Started">${s.runs}</td>
          <td data-label="Skipped">${s.skipped}</td>
        </tr>`)}
        ${list && list.length === 0 && html`<tr><td colspan="7" class="muted">No schedules yet: create one with
          <code>duro schedule create</code> or <code>POST /v1/schedules</code>.</td></tr>`}
      </tbody>
    </table>
  </section>`;
}

export function SchedulePage({ id }) {
  const path = `/v1/schedules/${segment(id)}`;
  const [notice, setNotice] = useState(null);
  const [schedule, error, reload] = usePolling(() => get(path), [id], true);
  const act = async (action) => {
    setNotice({ ok: true, text: "Sending…" });
    try {
      setNotice({ ok: true, text: await action() });
      await reload();
    } catch (failed) {
      setNotice(failure(failed));
    }
  };
  const setPaused = (event) => {
    event.preventDefault();
    const note = new FormData(event.target).get("note").trim() || null;
    const verb = schedule.paused ? "resume" : "pause";
    act(async () => {
      const { data } = await call("POST", `${path}/${verb}`, { json: { note } });
      return data.paused ? `Paused${note ? `: ${note}` : ""}.` : `Resumed; next tick ${data.next_tick_at}.`;
    });
  };
  if (!schedule) {
    return html`<section><h1>Schedule <code>${id}</code></h1><${LoadError} error=${error} />
      ${!error && html`<p class="muted">Loading…</p>`}</section>`;
  }
  return html`<section aria-labelledby="schedule-title">
    <p><a href="#/schedules">← Schedules</a></p>
    <div class="title-row">
      <h1 id="schedule-title"><code>${schedule.id}</code></h1>
      <${State} schedule=${schedule} />
    </div>
    <${LoadError} error=${error} />
    <dl class="facts summary">
      <dt>When</dt><dd>${specText(schedule.spec)}</dd>
      <dt>Component</dt><dd>${schedule.component}</dd>
      <dt>Overlap</dt><dd>${schedule.overlap}</dd>
      <dt>Catch-up window</dt><dd>${schedule.catchup_window_s} s</dd>
      ${schedule.end_at && html`<dt>Ends</dt><dd><${Time} at=${schedule.end_at} /></dd>`}
      ${schedule.max_runs && html`<dt>Runs at most</dt><dd>${schedule.max_runs}</dd>`}
      ${schedule.note && html`<dt>Note</dt><dd class="schedule-note">${schedule.note}</dd>`}
      <dt>Ticks</dt><dd>${schedule.runs} started, ${schedule.skipped} skipped</dd>
      ${schedule.buffered_tick_at && html`<dt>Buffered tick</dt><dd><${Time} at=${schedule.buffered_tick_at} /></dd>`}
      <dt>Workflows</dt><dd><a href=${withQuery("#/workflows", { schedule: schedule.id })}>all it started</a></dd>
    </dl>
    <${Notice} notice=${notice} />
    <section class="panel actions" aria-labelledby="schedule-actions-title">
      <h2 id="schedule-actions-title">Actions</h2>
      <form class="action-form" onSubmit=${setPaused} aria-label=${schedule.paused ? "Resume" : "Pause"}>
        <${Field} id="schedule-note" label="Note (optional)">
          <input id="schedule-note" name="note" maxlength="1024" /><//>
        <button type="submit">${schedule.paused ? "Resume" : "Pause"}</button>
      </form>
      <div class="buttons">
        <button type="button" onClick=${() => act(async () => {
          const { data } = await call("POST", `${path}/trigger`);
          return `Started workflow ${data.id}.`;
        })}>Trigger now</button>
        <${ConfirmButton} label="Delete" confirm="Confirm delete" danger onConfirm=${() => act(async () => {
          await call("DELETE", path);
          location.hash = "#/schedules";
          return "Deleted.";
        })} />
      </div>
    </section>
    <div class="columns">
      <section class="panel" aria-labelledby="upcoming-title">
        <h2 id="upcoming-title">Next ticks</h2>
        ${schedule.upcoming.length === 0
          ? html`<p class="muted">None: the schedule has ended.</p>`
          : html`<ol class="upcoming">${schedule.upcoming.map((at) => html`<li key=${at}><${Time} at=${at} /></li>`)}</ol>`}
      </section>
      <section class="panel" aria-labelledby="skipped-title">
        <h2 id="skipped-title">Skipped ticks</h2>
        ${schedule.skipped_ticks.length === 0
          ? html`<p class="muted">None.</p>`
          : html`<ul class="skipped">${schedule.skipped_ticks.map((s) => html`<li key=${s.first_nominal_time + s.reason}>
              <${Time} at=${s.first_nominal_time} />${s.count > 1 ? html` to <${Time} at=${s.last_nominal_time} />` : ""}
              (${s.count}): ${s.reason}</li>`)}</ul>`}
      </section>
    </div>
    <section class="panel" aria-labelledby="runs-title">
      <h2 id="runs-title">Recent runs</h2>
      ${schedule.recent_runs.length === 0
        ? html`<p class="muted">None yet.</p>`
        : html`<table class="list"><caption class="visually-hidden">Workflows it started, newest first</caption>
          <thead><tr><th scope="col">Tick</th><th scope="col">Workflow</th><th scope="col">Status</th></tr></thead>
          <tbody>${schedule.recent_runs.map((run) => html`<tr key=${run.workflow}>
            <td data-label="Tick"><${Time} at=${run.nominal_time} />${run.triggered ? " (triggered)" : ""}</td>
            <td data-label="Workflow"><a href=${`#/workflows/${segment(run.workflow)}`}>${run.workflow}</a></td>
            <td data-label="Status">${run.status ? html`<${Status} status=${run.status} />` : html`<span class="muted">deleted</span>`}</td>
          </tr>`)}</tbody></table>`}
    </section>
  </section>`;
}
