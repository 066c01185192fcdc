/**
 * Activities: work done by another component (the `activity` world).
 * @module
 */

import { call } from 'duro:workflow/activities@0.2.0';
import { errorPayload } from './component.js';
import { msToWit, toWit } from './retry.js';

/**
 * An activity's last attempt failed. `typeName` is matched against a retry
 * policy's `nonRetryableErrorTypes`; the host's own include
 * `start-to-close-timeout`, `heartbeat-timeout`, `trap` and
 * `unknown-component`.
 */
export class ActivityError extends Error {
  /**
   * @param {{typeName: string, message: string, nonRetryable: boolean, details?: string}} error
   */
  constructor(error) {
    super(`${error.typeName}: ${error.message}`);
    this.name = 'ActivityError';
    /** @type {string} */
    this.typeName = error.typeName;
    /** Whether the activity said never to retry. @type {boolean} */
    this.nonRetryable = error.nonRetryable;
    /** More about the error, decoded from JSON. @type {unknown} */
    this.details = error.details === undefined || error.details === null ? undefined : JSON.parse(error.details);
  }
}

/**
 * Timeouts and retries of one activity call, after Temporal's.
 * @typedef {object} ActivityOptions
 * @property {number} startToCloseMs longest one attempt may run, at most the
 *   host's cap (10 min by default)
 * @property {number} [scheduleToCloseMs] longest all attempts and waits may
 *   take together
 * @property {number} [heartbeatMs] longest an attempt may go without a heartbeat
 * @property {import('./retry.js').RetryPolicy} [retry] how failed attempts are
 *   retried; without one the first answer is final
 */

/**
 * Runs activity `component` (a name or digest) on `input` (sent as JSON)
 * and returns its output, decoded from JSON. Each attempt runs in a fresh
 * instance; its result is journaled before the workflow sees it, and a
 * replay returns it without running the activity. An attempt in flight when
 * the host crashes is retried, so activities must be idempotent. Throws
 * {@link ActivityError} with the last attempt's error.
 * @param {string} component
 * @param {unknown} input
 * @param {ActivityOptions} options
 * @returns {unknown}
 */
export function callActivity(component, input, options) {
  const witOptions = {
    startToCloseTimeoutMs: msToWit(options.startToCloseMs),
    scheduleToCloseTimeoutMs: options.scheduleToCloseMs === undefined ? undefined : msToWit(options.scheduleToCloseMs),
    heartbeatTimeoutMs: options.heartbeatMs === undefined ? undefined : msToWit(options.heartbeatMs),
    retry: toWit(options.retry),
  };
  let output;
  try {
    output = call(component, JSON.stringify(input) ?? 'null', witOptions);
  } catch (thrown) {
    throw new ActivityError(errorPayload(thrown));
  }
  return JSON.parse(output);
}
