"""A human in the loop, in Python: waits for someone to approve or reject a
request, or gives up after a timeout. The same workflow as
``examples/approval`` (Rust), with the same input, output and events.

Input ``{"request": "Deploy v2 to production", "timeout_s": 86400}``
(``timeout_s`` in seconds, default a day). The workflow sets event
``status`` to ``"pending"``, then waits for whichever comes first: signal
``approve``, signal ``reject``, or the timeout. A signal's payload is
``{"by": "alice", "comment": "ok"}`` (``comment`` optional); a payload of
another shape is logged as a warning and ignored, and the workflow waits on
(the timeout still counts from the start).

Output ``{"request": ..., "decision": "approved" | "rejected" | "timed_out",
"by": ... | null, "comment": ... | null}``; event ``status`` is set to the
decision before the workflow returns. If the workflow is cancelled while it
waits, it sets ``status`` to ``"cancelled"`` and ends with error
``cancelled``.
"""

import json

import duro_sdk as duro

A_DAY_S = 24 * 60 * 60


def verdict_of(payload):
    """``(by, comment)`` of a valid signal payload, or ``None``."""
    if not isinstance(payload, dict) or not isinstance(payload.get("by"), str):
        return None
    comment = payload.get("comment")
    if comment is not None and not isinstance(comment, str):
        return None
    return payload["by"], comment


def parse_input(input):
    """``(request, timeout_s)``, checked as the Rust example's serde types
    check them: ``request`` a string, ``timeout_s`` absent or a whole
    number of seconds, at least 0."""
    if not isinstance(input, dict) or not isinstance(input.get("request"), str):
        raise ValueError("invalid input: `request` must be a string")
    timeout_s = input.get("timeout_s", A_DAY_S)
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int) or timeout_s < 0:
        raise ValueError("invalid input: `timeout_s` must be a whole number of seconds, at least 0")
    return input["request"], timeout_s


@duro.workflow
def run(input):
    request, timeout_s = parse_input(input)
    duro.set_event("status", "pending")
    duro.log.info(f"waiting up to {timeout_s} s for approval of {json.dumps(request)}")
    # One timer for the whole wait, so ignoring a bad signal does not move
    # the deadline.
    timeout = duro.timer(timeout_s)
    while True:
        # A receive consumes a signal only when it wins, so making both
        # again after a bad payload loses nothing.
        approve = duro.signal("approve")
        reject = duro.signal("reject")
        try:
            index, outcome = duro.wait_any([approve, reject, timeout])
        except duro.Cancelled:
            duro.set_event("status", "cancelled")
            raise
        if index == 2:
            decision, verdict = "timed_out", None
            break
        name, decision = [("approve", "approved"), ("reject", "rejected")][index]
        verdict = verdict_of(outcome.payload)
        if verdict is not None:
            break
        duro.log.warn(f"ignoring signal {name}: bad payload: {json.dumps(outcome.payload)}")
    duro.set_event("status", decision)
    by, comment = verdict if verdict is not None else (None, None)
    duro.log.info(f"{json.dumps(request)}: {decision}")
    return {"request": request, "decision": decision, "by": by, "comment": comment}
