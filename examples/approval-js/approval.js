// A human in the loop, in JavaScript: waits for someone to approve or
// reject a request, or gives up after a timeout. The same workflow as
// examples/approval (Rust), with the same input, output and events.
//
// Input {"request": "Deploy v2 to production", "timeout_s": 86400}
// (`timeout_s` in seconds, default a day). The workflow sets event `status`
// to "pending", then waits for whichever comes first: signal `approve`,
// signal `reject`, or the timeout. A signal's payload is
// {"by": "alice", "comment": "ok"} (`comment` optional); a payload of
// another shape is logged as a warning and ignored, and the workflow waits
// on (the timeout still counts from the start).
//
// Output {"request": …, "decision": "approved" | "rejected" | "timed_out",
// "by": … | null, "comment": … | null}; event `status` is set to the
// decision before the workflow returns. If the workflow is cancelled while
// it waits, it sets `status` to "cancelled" and ends with error `cancelled`.
import * as duro from '../../guest-sdk/js/src/index.js';

const A_DAY_S = 24 * 60 * 60;

/** `{by, comment}` of a valid signal payload, or `undefined`. */
function verdictOf(payload) {
  if (payload === null || typeof payload !== 'object' || typeof payload.by !== 'string') {
    return undefined;
  }
  const comment = payload.comment ?? null;
  if (comment !== null && typeof comment !== 'string') {
    return undefined;
  }
  return { by: payload.by, comment };
}

/**
 * `[request, timeoutS]`, checked as the Rust example's serde types check
 * them: `request` a string, `timeout_s` absent or a whole number of
 * seconds, at least 0.
 * @param {any} input
 * @returns {[string, number]}
 */
function parseInput(input) {
  if (input === null || typeof input !== 'object' || typeof input.request !== 'string') {
    throw new Error('invalid input: `request` must be a string');
  }
  const timeoutS = input.timeout_s === undefined ? A_DAY_S : input.timeout_s;
  if (!Number.isSafeInteger(timeoutS) || timeoutS < 0) {
    throw new Error('invalid input: `timeout_s` must be a whole number of seconds, at least 0');
  }
  return [input.request, timeoutS];
}

export const run = duro.workflow((input) => {
  const [request, timeoutS] = parseInput(input);
  duro.setEvent('status', 'pending');
  duro.log.info(`waiting up to ${timeoutS} s for approval of ${JSON.stringify(request)}`);
  // One timer for the whole wait, so ignoring a bad signal does not move
  // the deadline.
  const timeout = duro.timer(timeoutS * 1000);
  let decision;
  let verdict;
  for (;;) {
    // A receive consumes a signal only when it wins, so making both again
    // after a bad payload loses nothing.
    const approve = duro.signal('approve');
    const reject = duro.signal('reject');
    let winner;
    try {
      winner = duro.waitAny([approve, reject, timeout]);
    } catch (error) {
      if (error instanceof duro.Cancelled) {
        duro.setEvent('status', 'cancelled');
      }
      throw error;
    }
    if (winner.index === 2) {
      decision = 'timed_out';
      verdict = undefined;
      break;
    }
    const [name, decided] = [['approve', 'approved'], ['reject', 'rejected']][winner.index];
    decision = decided;
    verdict = verdictOf(winner.outcome.payload);
    if (verdict !== undefined) {
      break;
    }
    duro.log.warn(`ignoring signal ${name}: bad payload: ${JSON.stringify(winner.outcome.payload)}`);
  }
  duro.setEvent('status', decision);
  duro.log.info(`${JSON.stringify(request)}: ${decision}`);
  return { request, decision, by: verdict?.by ?? null, comment: verdict?.comment ?? null };
});
