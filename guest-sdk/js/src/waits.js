/**
 * Durable waits: timers, signals, child workflows and races between them.
 *
 * Each handle is made by one journaled call and each {@link waitAny}
 * journals its winner, so a replay takes the same branch. A wait that finds
 * nothing ready waits in memory up to the host's inline threshold (1 s by
 * default), then unloads the workflow until something it waits for
 * arrives. Do not wait with `setTimeout` or promises: only these waits are
 * durable.
 * @module
 */

import { cancelChild, receiveSignal, startChild as witStartChild, startTimer, waitAny as witWaitAny } from 'duro:workflow/waits@0.2.0';
import { errorPayload } from './component.js';
import { clampU64, msToWit } from './retry.js';

/**
 * Thrown by a wait when the workflow was asked to cancel
 * (`POST /v1/workflows/{id}/cancel`, or its execution timeout). Thrown once,
 * by the wait in progress or the next one; later waits work as usual, so the
 * workflow can compensate before it ends. It ends `cancelled` whatever it
 * then returns; left uncaught, with error `cancelled`.
 */
export class Cancelled extends Error {
  constructor() {
    super('cancelled');
    this.name = 'Cancelled';
  }
}

/**
 * Something to wait for, made by {@link timer}, {@link signal} or
 * {@link startChild}, and passed to {@link waitAny}. Once it has won a wait
 * it stays ready with the same outcome. Dropping it has no durable effect.
 */
export class Pending {
  /** @param {any} handle the WIT `pending` resource */
  constructor(handle) {
    /** @internal */
    this.handle = handle;
  }

  /**
   * The journal position of the call that made this handle: the same on
   * every replay.
   * @returns {bigint}
   */
  get key() {
    return this.handle.key();
  }
}

/**
 * How a child workflow ended.
 * @typedef {object} ChildEnd
 * @property {string} id the child's workflow id
 * @property {'completed' | 'failed' | 'stuck' | 'cancelled' | 'terminated'} status
 * @property {unknown} output its output (decoded JSON) when it completed
 * @property {string | undefined} error its error message when it did not
 */

/**
 * What a handle came to: a timer fired, a signal arrived (its payload
 * decoded from JSON; the signal is consumed), or a child workflow ended.
 * @typedef {{kind: 'fired'} | {kind: 'signal', payload: unknown} | ({kind: 'child'} & ChildEnd)} Outcome
 */

/** A child workflow could not start: an unknown component, an invalid id or an id taken. */
export class ChildStartError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = 'ChildStartError';
  }
}

/** A child workflow ended without completing; `end` says how. */
export class ChildFailed extends Error {
  /** @param {ChildEnd} end */
  constructor(end) {
    super(`child workflow ${end.id} ${end.status}${end.error ? `: ${end.error}` : ''}`);
    this.name = 'ChildFailed';
    /** @type {ChildEnd} */
    this.end = end;
  }
}

/**
 * A child workflow started by {@link startChild}. Wait for it alone with
 * `join()`, or race it with {@link waitAny}, whose outcome for it has kind
 * `child`.
 */
export class Child extends Pending {
  /**
   * Waits for the child to end and returns its output (decoded JSON).
   * Throws {@link ChildFailed} if it ended otherwise than completed, and
   * {@link Cancelled} if this workflow was asked to cancel (the child runs
   * on; `cancel()` it to stop it).
   * @returns {unknown}
   */
  join() {
    const { outcome } = waitAny([this]);
    if (outcome.status !== 'completed') {
      throw new ChildFailed(outcome);
    }
    return outcome.output;
  }

  /**
   * Asks the child to cancel (journaled); nothing happens if it has ended.
   * Its end still arrives through `join()` or {@link waitAny}.
   */
  cancel() {
    cancelChild(this.handle);
  }
}

/**
 * A durable timer that fires `ms` milliseconds after this call was first
 * made (journaled). `timer(0)` is ready at once: racing it makes a "try".
 * @param {number} ms
 * @returns {Pending}
 */
export function timer(ms) {
  return new Pending(startTimer(clampU64(msToWit(ms) * 1_000_000n)));
}

/**
 * The next signal named `name` (at most 256 bytes) sent to this workflow.
 * Signals of one name are received in the order they arrived, each once;
 * one sent before the workflow asks is kept until it does. It is taken only
 * when this handle wins a {@link waitAny}.
 * @param {string} name
 * @returns {Pending}
 */
export function signal(name) {
  return new Pending(receiveSignal(name));
}

/**
 * Starts child workflow `component` (a name or digest) on `input` (sent as
 * JSON) under `options.id`, or `<this workflow's id>:<seq>` if none. The
 * start is committed before the child runs, and a replay never starts it
 * twice. Children still running when this workflow ends are cancelled.
 * Throws {@link ChildStartError} if the host refuses to start it.
 * @param {string} component
 * @param {unknown} input
 * @param {{id?: string}} [options]
 * @returns {Child}
 */
export function startChild(component, input, options = {}) {
  let handle;
  try {
    handle = witStartChild(component, JSON.stringify(input) ?? 'null', options.id);
  } catch (thrown) {
    throw new ChildStartError(String(errorPayload(thrown)));
  }
  return new Child(handle);
}

/**
 * Blocks until one of `handles` (1 to 1,024) has an outcome; returns its
 * index in `handles` and the outcome. The winner is the one that arrived
 * first (timers by when they fired, signals by when they were sent,
 * children by when they ended), the lowest index on a tie. Journaled: a
 * replay returns the same winner. The losers are untouched: a signal stays
 * in the inbox, a child runs on. Throws {@link Cancelled} when the workflow
 * was asked to cancel; no handle won then.
 * @param {Pending[]} handles
 * @returns {{index: number, outcome: Outcome}}
 */
export function waitAny(handles) {
  let winner;
  try {
    winner = witWaitAny(handles.map((pending) => pending.handle));
  } catch (thrown) {
    errorPayload(thrown);
    throw new Cancelled();
  }
  return { index: winner.index, outcome: outcome(winner.outcome) };
}

/**
 * Waits for the next signal named `name` and returns its payload, decoded
 * from JSON. Throws {@link Cancelled} if the workflow is asked to cancel
 * first (no signal is taken then).
 * @param {string} name
 * @returns {unknown}
 */
export function receive(name) {
  return waitAny([signal(name)]).outcome.payload;
}

/**
 * Sleeps durably for `ms` milliseconds. A long sleep unloads the workflow
 * and survives host crashes. Throws {@link Cancelled} if the workflow is
 * asked to cancel first.
 * @param {number} ms
 */
export function sleep(ms) {
  waitAny([timer(ms)]);
}

/**
 * @param {{tag: string, val?: any}} witOutcome
 * @returns {Outcome}
 */
function outcome(witOutcome) {
  switch (witOutcome.tag) {
    case 'signal':
      return { kind: 'signal', payload: JSON.parse(witOutcome.val) };
    case 'child': {
      const end = witOutcome.val;
      const output = end.output === undefined || end.output === null ? undefined : JSON.parse(end.output);
      return { kind: 'child', id: end.id, status: end.status, output, error: end.error ?? undefined };
    }
    case 'fired':
      return { kind: 'fired' };
    default:
      throw new Error(`the host answered an outcome this SDK does not know: ${witOutcome.tag}`);
  }
}
