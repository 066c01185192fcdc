/**
 * Write duro workflows in JavaScript.
 *
 * A workflow is a function from JSON to JSON, registered with
 * {@link workflow}, that reaches the outside world only through this
 * package (or `Date.now()`, `Math.random()` and `crypto.getRandomValues()`,
 * which the host journals too). duro records the outcome of every call in
 * the workflow's journal and, after a crash, a restart or a long wait, runs
 * the function again from the start, answering each call from the journal:
 * so the function must make the same calls in the same order on every run.
 *
 * Every function here is synchronous: a wait blocks the workflow (and a
 * long one unloads it) until what it waits for arrives.
 *
 * - `now`, `nowNs`, `random`, `randomU64`: journaled time and randomness.
 * - `sleep`, `timer`, `signal`, `receive`, `waitAny`: durable waits.
 * - `startChild`: child workflows.
 * - `setEvent`: state published for callers.
 * - `http` and `callActivity`: effects, with retry policies.
 * - `log`: the workflow's log.
 * - `Cancelled`: thrown by a wait when the workflow is asked to cancel.
 *
 * @example
 * import * as duro from '@duro/sdk';
 *
 * export const run = duro.workflow((input) => {
 *   duro.setEvent('status', 'waiting');
 *   const verdict = duro.receive('approve');
 *   return { approvedBy: verdict.by };
 * });
 *
 * @module @duro/sdk
 */

export { log, now, nowNs, random, randomU64, setEvent } from './runtime.js';
export { Cancelled, Child, ChildFailed, ChildStartError, Pending, receive, signal, sleep, startChild, timer, waitAny } from './waits.js';
export { ActivityError, callActivity } from './activities.js';
export { workflow } from './workflow.js';
export * as http from './http.js';
