"""Durations as the WIT wants them: whole nanoseconds or milliseconds."""

from datetime import timedelta
from typing import Union

Duration = Union[int, float, timedelta]
"""A duration: seconds as an ``int`` or ``float``, or a ``timedelta``."""

_U64_MAX = 2**64 - 1


def to_ns(duration: Duration) -> int:
    """``duration`` in whole nanoseconds, clamped to the WIT's ``u64``.

    Raises ``ValueError`` for a negative duration and ``TypeError`` for
    anything that is not a number of seconds or a ``timedelta``.
    """
    if isinstance(duration, timedelta):
        ns = (duration.days * 86_400 + duration.seconds) * 10**9 + duration.microseconds * 1_000
    elif isinstance(duration, (int, float)) and not isinstance(duration, bool):
        ns = round(duration * 10**9)
    else:
        raise TypeError(f"a duration is seconds or a timedelta, not {type(duration).__name__}")
    if ns < 0:
        raise ValueError(f"a duration cannot be negative: {duration!r}")
    return min(ns, _U64_MAX)


def to_ms(duration: Duration) -> int:
    """``duration`` in whole milliseconds, rounded up so a short timeout is not 0."""
    return -(-to_ns(duration) // 1_000_000)
