"""Durable waits: timers, signals, child workflows and races between them.

Each handle is made by one journaled call and each :func:`wait_any`
journals its winner, so a replay takes the same branch. A wait that finds
nothing ready waits in memory up to the host's inline threshold (1 s by
default), then unloads the workflow until something it waits for arrives.
"""

import json
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple, Union

from componentize_py_types import Err
from wit_world.imports import waits

from ._duration import Duration, to_ns


class Cancelled(Exception):
    """The workflow was asked to cancel (``POST /v1/workflows/{id}/cancel``
    or its execution timeout) while it waited.

    Raised once, by the wait in progress or the next one; later waits work
    as usual, so the workflow can compensate before it ends. It ends
    ``cancelled`` whatever it then returns. Left uncaught, it ends the
    workflow with error ``cancelled``.
    """

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)


class Pending:
    """Something to wait for, made by :func:`timer`, :func:`signal` or
    :func:`start_child`, and passed to :func:`wait_any`.

    Once it has won a wait it stays ready with the same outcome. Dropping
    it has no durable effect.
    """

    def __init__(self, handle: waits.Pending) -> None:
        self._handle = handle

    @property
    def key(self) -> int:
        """The journal position of the call that made this handle: the same
        on every replay."""
        return self._handle.key()


@dataclass(frozen=True)
class Fired:
    """The outcome of a timer that fired."""


@dataclass(frozen=True)
class Signal:
    """The outcome of a received signal: its payload, decoded from JSON.

    The signal is consumed: no other receive gets it.
    """

    payload: Any


@dataclass(frozen=True)
class ChildEnd:
    """How a child workflow ended.

    Attributes:
        id: The child's workflow id.
        status: ``completed``, ``failed``, ``stuck``, ``cancelled`` or
            ``terminated``.
        output: Its output, decoded from JSON, when it completed.
        error: Its error message, when it did not.
    """

    id: str
    status: str
    output: Any
    error: Optional[str]


Outcome = Union[Fired, Signal, ChildEnd]
"""What a handle came to: :class:`Fired`, :class:`Signal` or :class:`ChildEnd`."""


class ChildStartError(Exception):
    """A child workflow could not start: an unknown component, an invalid id,
    or an id taken by another workflow (the message says which)."""


class ChildFailed(Exception):
    """A child workflow ended without completing; ``end`` says how."""

    def __init__(self, end: ChildEnd) -> None:
        detail = f": {end.error}" if end.error else ""
        super().__init__(f"child workflow {end.id} {end.status}{detail}")
        self.end = end


class Child(Pending):
    """A child workflow started by :func:`start_child`.

    Wait for it alone with :meth:`join`, or race it with :func:`wait_any`,
    whose outcome for it is a :class:`ChildEnd`.
    """

    def join(self) -> Any:
        """Waits for the child to end and returns its output (decoded JSON).

        Raises :class:`ChildFailed` if it ended otherwise than completed,
        and :class:`Cancelled` if this workflow was asked to cancel (the
        child runs on; :meth:`cancel` it to stop it).
        """
        _, end = wait_any([self])
        if end.status != "completed":
            raise ChildFailed(end)
        return end.output

    def cancel(self) -> None:
        """Asks the child to cancel (journaled); nothing happens if it has
        ended. Its end still arrives through :meth:`join` or
        :func:`wait_any`, ``cancelled`` once it has seen the request."""
        waits.cancel_child(self._handle)


def timer(duration: Duration) -> Pending:
    """A durable timer that fires ``duration`` (seconds or a ``timedelta``)
    after this call was first made (journaled). ``timer(0)`` is ready at
    once: racing it makes a "try"."""
    return Pending(waits.start_timer(to_ns(duration)))


def signal(name: str) -> Pending:
    """The next signal named ``name`` (at most 256 bytes) sent to this workflow.

    Signals of one name are received in the order they arrived, each once;
    one sent before the workflow asks is kept until it does. It is taken
    only when this handle wins a :func:`wait_any`.
    """
    return Pending(waits.receive_signal(name))


def start_child(component: str, input: Any, id: Optional[str] = None) -> Child:
    """Starts child workflow ``component`` (a name or digest) on ``input``
    (sent as JSON) under ``id``, or ``<this workflow's id>:<seq>`` if none.

    The start is committed before the child runs, and a replay never starts
    it twice. Children still running when this workflow ends are cancelled.
    Raises :class:`ChildStartError` if the host refuses to start it.
    """
    try:
        handle = waits.start_child(component, json.dumps(input, allow_nan=False), id)
    except Err as error:
        raise ChildStartError(error.value) from None
    return Child(handle)


def wait_any(handles: Sequence[Pending]) -> Tuple[int, Outcome]:
    """Blocks until one of ``handles`` (1 to 1,024) has an outcome; returns
    its index in ``handles`` and the outcome.

    The winner is the one that arrived first (timers by when they fired,
    signals by when they were sent, children by when they ended), the lowest
    index on a tie. Journaled: a replay returns the same winner. The losers
    are untouched: a signal stays in the inbox, a child runs on.

    Raises :class:`Cancelled` when the workflow was asked to cancel; no
    handle won then.
    """
    try:
        winner = waits.wait_any([pending._handle for pending in handles])
    except Err:
        raise Cancelled() from None
    return winner.index, _outcome(winner.outcome)


def receive(name: str) -> Any:
    """Waits for the next signal named ``name`` and returns its payload,
    decoded from JSON. Raises :class:`Cancelled` if the workflow is asked
    to cancel first (no signal is taken then)."""
    _, outcome = wait_any([signal(name)])
    return outcome.payload


def sleep(duration: Duration) -> None:
    """Sleeps durably for ``duration`` (seconds or a ``timedelta``).

    A long sleep unloads the workflow and survives host crashes. Raises
    :class:`Cancelled` if the workflow is asked to cancel first.
    ``time.sleep`` cannot be durable and fails the workflow: use this.
    """
    wait_any([timer(duration)])


def _outcome(outcome: waits.Outcome) -> Outcome:
    if isinstance(outcome, waits.Outcome_Signal):
        return Signal(json.loads(outcome.value))
    if isinstance(outcome, waits.Outcome_Child):
        end = outcome.value
        output = json.loads(end.output) if end.output is not None else None
        return ChildEnd(end.id, end.status.name.lower(), output, end.error)
    if isinstance(outcome, waits.Outcome_Fired):
        return Fired()
    raise RuntimeError(f"the host answered an outcome this SDK does not know: {outcome!r}")
