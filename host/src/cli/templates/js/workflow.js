// A duro workflow: it publishes event `status`, then waits for whichever
// comes first, signal `greet` or a timeout, and returns a message.
//
// Input {"name": "Ada", "timeout_s": 3600} (`timeout_s` defaults to an
// hour). Signal `greet` carries a greeting as its JSON payload ("Hello").
// Output {"message": "Hello, Ada!", "timed_out": false}, or
// {"message": "No greeting for Ada", "timed_out": true} after the timeout.
// Event `status` is "waiting" during the wait and "done" after it.
//
// The wait is durable: the host unloads the workflow while it waits and
// resumes it, after a restart too, when the signal or the timer arrives.
import * as duro from '@duro/sdk';

const AN_HOUR_S = 60 * 60;

export const run = duro.workflow((input) => {
  const name = input.name;
  duro.setEvent('status', 'waiting');
  // A race: waitAny returns the first to arrive, and the host journals
  // which one won, so a replay takes the same branch.
  const timeoutMs = (input.timeout_s ?? AN_HOUR_S) * 1000;
  const { index, outcome } = duro.waitAny([duro.signal('greet'), duro.timer(timeoutMs)]);
  const output =
    index === 0
      ? { message: `${outcome.payload}, ${name}!`, timed_out: false }
      : { message: `No greeting for ${name}`, timed_out: true };
  duro.setEvent('status', 'done');
  return output;
});
