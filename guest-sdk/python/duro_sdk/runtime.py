"""Journaled time and randomness, durable events and the workflow's log."""

import json
from datetime import datetime, timezone
from typing import Any

from wit_world.imports import events
from wit_world.imports import runtime as wit_runtime


def now_ns() -> int:
    """Journaled wall-clock time in nanoseconds since the Unix epoch (UTC).

    The first run records the host's time; a replay returns the recorded
    value. Each call adds a journal entry. ``time.time_ns()`` is journaled
    the same way (through ``wasi:clocks``).
    """
    return wit_runtime.now()


def now() -> datetime:
    """Journaled wall-clock time as a UTC ``datetime`` (see :func:`now_ns`)."""
    ns = now_ns()
    return datetime.fromtimestamp(ns // 10**9, tz=timezone.utc).replace(microsecond=ns % 10**9 // 1_000)


def random_u64() -> int:
    """A random integer in ``[0, 2**64)`` from the host's secure generator.

    Journaled: a replay returns the recorded value.
    """
    return wit_runtime.random_u64()


def random() -> float:
    """A journaled random float in ``[0.0, 1.0)``, like ``random.random()``.

    Made of the top 53 bits of one :func:`random_u64`. Python's own
    ``random`` module also replays, since CPython seeds it from
    ``wasi:random``, which the host journals.
    """
    return (random_u64() >> 11) * 2.0**-53


def set_event(key: str, value: Any) -> None:
    """Publishes ``value`` as JSON under event ``key`` (at most 256 bytes).

    Callers read it with ``GET /v1/workflows/{id}/events/{key}`` without
    replaying the workflow. Journaled and committed before this returns;
    the latest value of a key wins. The JSON must be at most 64 KiB: more
    fails the workflow. Raises ``TypeError`` if ``value`` is not JSON
    serializable, ``ValueError`` if it holds NaN or an infinity (which JSON
    cannot carry); nothing is published then.
    """
    events.set_event(key, json.dumps(value, allow_nan=False))


class _Log:
    """The workflow's log: one method per level, lowest first.

    Not journaled: on replay the host drops lines it already stored, so each
    line appears once however often the workflow runs again. ``print`` and
    anything written to stderr land in the same log.
    """

    def trace(self, message: str) -> None:
        """Logs ``message`` at level ``trace``."""
        wit_runtime.log(wit_runtime.Level.TRACE, message)

    def debug(self, message: str) -> None:
        """Logs ``message`` at level ``debug``."""
        wit_runtime.log(wit_runtime.Level.DEBUG, message)

    def info(self, message: str) -> None:
        """Logs ``message`` at level ``info``."""
        wit_runtime.log(wit_runtime.Level.INFO, message)

    def warn(self, message: str) -> None:
        """Logs ``message`` at level ``warn``."""
        wit_runtime.log(wit_runtime.Level.WARN, message)

    def error(self, message: str) -> None:
        """Logs ``message`` at level ``error``."""
        wit_runtime.log(wit_runtime.Level.ERROR, message)


log = _Log()
"""The workflow's log: ``log.info("reserved")``, also ``trace``, ``debug``,
``warn`` and ``error``."""
