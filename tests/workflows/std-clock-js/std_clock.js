// Reads JavaScript's own clocks and randomness (no duro call) before a
// durable wait, publishes them as event `observed` and returns them after
// signal `go`: a test kills the host during the wait and checks that the
// replay read the same values. SpiderMonkey reads `wasi:clocks` and
// `wasi:random`, which the host journals.
import * as duro from '../../../guest-sdk/js/src/index.js';

export const run = duro.workflow(() => {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  const observed = {
    date_now: Date.now(),
    performance_now: performance.now(),
    random: Math.random(),
    crypto: Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(''),
  };
  duro.setEvent('observed', observed);
  duro.receive('go');
  return observed;
});
