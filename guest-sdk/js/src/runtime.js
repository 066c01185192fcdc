/**
 * Journaled time and randomness, durable events and the workflow's log.
 * @module
 */

import { setEvent as witSetEvent } from 'duro:workflow/events@0.2.0';
import { log as witLog, now as witNow, randomU64 as witRandomU64 } from 'duro:workflow/runtime@0.2.0';

/**
 * Journaled wall-clock time in nanoseconds since the Unix epoch (UTC).
 * The first run records the host's time; a replay returns the recorded
 * value. Each call adds a journal entry. `Date.now()` is journaled the same
 * way (through `wasi:clocks`).
 * @returns {bigint}
 */
export function nowNs() {
  return witNow();
}

/**
 * Journaled wall-clock time as a `Date` (see {@link nowNs}).
 * @returns {Date}
 */
export function now() {
  return new Date(Number(nowNs() / 1_000_000n));
}

/**
 * A random integer in `[0, 2^64)` from the host's secure generator.
 * Journaled: a replay returns the recorded value.
 * @returns {bigint}
 */
export function randomU64() {
  return witRandomU64();
}

/**
 * A journaled random number in `[0, 1)`, like `Math.random()`: the top 53
 * bits of one {@link randomU64}. `Math.random()` replays too.
 * @returns {number}
 */
export function random() {
  return Number(randomU64() >> 11n) / 2 ** 53;
}

/**
 * Publishes `value` as JSON under event `key` (at most 256 bytes); callers
 * read it with `GET /v1/workflows/{id}/events/{key}` without replaying the
 * workflow. Journaled and committed before this returns; the latest value
 * of a key wins. The JSON must be at most 64 KiB: more fails the workflow.
 * @param {string} key
 * @param {unknown} value anything `JSON.stringify` accepts
 */
export function setEvent(key, value) {
  const json = JSON.stringify(value);
  if (json === undefined) {
    throw new TypeError(`event ${key}: the value is not JSON serializable`);
  }
  witSetEvent(key, json);
}

/**
 * The workflow's log, one method per level. Not journaled: on replay the
 * host drops lines it already stored, so each line appears once however
 * often the workflow runs again. `console.log` and `console.error` land in
 * the same log.
 *
 * @example
 * duro.log.info(`reserved ${reservation.id}`);
 */
export const log = Object.freeze({
  /** @param {string} message logged at level `trace` */
  trace: (message) => witLog('trace', String(message)),
  /** @param {string} message logged at level `debug` */
  debug: (message) => witLog('debug', String(message)),
  /** @param {string} message logged at level `info` */
  info: (message) => witLog('info', String(message)),
  /** @param {string} message logged at level `warn` */
  warn: (message) => witLog('warn', String(message)),
  /** @param {string} message logged at level `error` */
  error: (message) => witLog('error', String(message)),
});
