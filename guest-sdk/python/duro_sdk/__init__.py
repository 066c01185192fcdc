"""Write duro workflows in Python.

A workflow is a function from JSON to JSON, registered with
:func:`workflow`, that reaches the outside world only through this package
(or the Python standard library's clock and randomness, which the host
journals too). duro records the outcome of every call in the workflow's
journal and, after a crash, a restart or a long wait, runs the function
again from the start, answering each call from the journal: so the
function must make the same calls in the same order on every run.

- :func:`now`, :func:`now_ns`, :func:`random`, :func:`random_u64`:
  journaled time and randomness.
- :func:`sleep`, :func:`timer`, :func:`signal`, :func:`receive`,
  :func:`wait_any`: durable waits; a long wait unloads the workflow.
- :func:`start_child`: child workflows.
- :func:`set_event`: state published for callers.
- :mod:`duro_sdk.http` and :func:`call_activity`: effects, with
  :class:`RetryPolicy`.
- :data:`log`: the workflow's log.
- :class:`Cancelled`: raised by a wait when the workflow is asked to cancel.

Example::

    import duro_sdk as duro

    @duro.workflow
    def run(input: dict) -> dict:
        duro.set_event("status", "waiting")
        verdict = duro.receive("approve")
        return {"approved_by": verdict["by"]}

Build it with componentize-py against duro's WIT (see docs/python.md)::

    componentize-py -d wit/workflow.wit -w workflow componentize \\
        -p . -p guest-sdk/python app -o app.wasm

componentize-py generates the ``wit_world`` bindings this package calls
into at build time, from the same WIT.
"""

from .activities import ActivityError, call_activity
from .retry import RetryPolicy
from .runtime import log, now, now_ns, random, random_u64, set_event
from .waits import (
    Cancelled,
    Child,
    ChildEnd,
    ChildFailed,
    ChildStartError,
    Fired,
    Pending,
    Signal,
    receive,
    signal,
    sleep,
    start_child,
    timer,
    wait_any,
)
from .workflow import workflow
from . import http

__all__ = [
    "ActivityError",
    "Cancelled",
    "Child",
    "ChildEnd",
    "ChildFailed",
    "ChildStartError",
    "Fired",
    "Pending",
    "RetryPolicy",
    "Signal",
    "call_activity",
    "http",
    "log",
    "now",
    "now_ns",
    "random",
    "random_u64",
    "receive",
    "set_event",
    "signal",
    "sleep",
    "start_child",
    "timer",
    "wait_any",
    "workflow",
]
