/**
 * Retry policies of effects, as the WIT wants them.
 * @module
 */

/**
 * How the host retries a failed effect (HTTP or activity), after
 * Temporal's `RetryPolicy`. The wait before attempt n+1 is
 * `initialIntervalMs * backoffCoefficient ** (n - 1)`, capped at
 * `maximumIntervalMs`. Attempts and waits are journaled, so a restart
 * during a wait resumes the schedule where it was. Every field is optional.
 *
 * @typedef {object} RetryPolicy
 * @property {number} [maximumAttempts] Most attempts in all, the first
 *   included; 0 (the default) means no limit.
 * @property {number} [initialIntervalMs] Wait after the first failure; 0
 *   (the default) means 1 s.
 * @property {number} [backoffCoefficient] Factor the wait grows by with
 *   each failure, at least 1 (default 2).
 * @property {number} [maximumIntervalMs] Longest wait; 0 (the default)
 *   means 100 times the initial one.
 * @property {string[]} [nonRetryableErrorTypes] Error types never retried:
 *   for HTTP `timeout`, `connection` and `status-NNN`; for activities the
 *   type names they throw.
 */

/**
 * `policy` as the WIT record, or `undefined` for none.
 * @param {RetryPolicy | undefined} policy
 */
export function toWit(policy) {
  if (policy === undefined || policy === null) {
    return undefined;
  }
  return {
    initialIntervalMs: msToWit(policy.initialIntervalMs ?? 0),
    backoffCoefficient: policy.backoffCoefficient ?? 2,
    maximumIntervalMs: msToWit(policy.maximumIntervalMs ?? 0),
    maximumAttempts: policy.maximumAttempts ?? 0,
    nonRetryableErrorTypes: policy.nonRetryableErrorTypes ?? [],
  };
}

/** The largest `u64`: longer durations are clamped to it, as in Rust. */
const U64_MAX = 2n ** 64n - 1n;

/**
 * Milliseconds as the WIT's `u64`, rounded up so a short timeout is not 0,
 * and clamped to `u64::MAX` (so `Infinity` is "as long as can be").
 * @param {number} ms
 * @returns {bigint}
 */
export function msToWit(ms) {
  if (typeof ms !== 'number' || !(ms >= 0)) {
    throw new RangeError(`a duration is a number of milliseconds, at least 0: ${ms}`);
  }
  return Number.isFinite(ms) ? clampU64(BigInt(Math.ceil(ms))) : U64_MAX;
}

/**
 * `value` clamped to `u64::MAX`.
 * @param {bigint} value
 * @returns {bigint}
 */
export function clampU64(value) {
  return value > U64_MAX ? U64_MAX : value;
}
