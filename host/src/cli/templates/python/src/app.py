"""A duro workflow: it publishes event ``status``, then waits for whichever
comes first, signal ``greet`` or a timeout, and returns a message.

Input ``{"name": "Ada", "timeout_s": 3600}`` (``timeout_s`` defaults to an
hour). Signal ``greet`` carries a greeting as its JSON payload (``"Hello"``).
Output ``{"message": "Hello, Ada!", "timed_out": false}``, or
``{"message": "No greeting for Ada", "timed_out": true}`` after the timeout.
Event ``status`` is ``"waiting"`` during the wait and ``"done"`` after it.

The wait is durable: the host unloads the workflow while it waits and
resumes it, after a restart too, when the signal or the timer arrives.
"""

import duro_sdk as duro

AN_HOUR_S = 60 * 60


@duro.workflow
def run(input):
    name = input["name"]
    duro.set_event("status", "waiting")
    # A race: wait_any returns the first to arrive, and the host journals
    # which one won, so a replay takes the same branch.
    index, outcome = duro.wait_any([duro.signal("greet"), duro.timer(input.get("timeout_s", AN_HOUR_S))])
    if index == 0:
        output = {"message": f"{outcome.payload}, {name}!", "timed_out": False}
    else:
        output = {"message": f"No greeting for {name}", "timed_out": True}
    duro.set_event("status", "done")
    return output
