"""Activities: work done by another component (the ``activity`` world)."""

import json
from typing import Any, Optional

from componentize_py_types import Err
from wit_world.imports import activities

from ._duration import Duration, to_ms
from .retry import RetryPolicy


class ActivityError(Exception):
    """An activity's last attempt failed.

    Attributes:
        type_name: The error's type, matched against a retry policy's
            ``non_retryable_error_types``; the host's own include
            ``start-to-close-timeout``, ``heartbeat-timeout``, ``trap`` and
            ``unknown-component``.
        message: What happened.
        non_retryable: Whether the activity said never to retry.
        details: More about the error, decoded from JSON, or ``None``.
    """

    def __init__(self, type_name: str, message: str, non_retryable: bool, details: Any) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message
        self.non_retryable = non_retryable
        self.details = details


def call_activity(
    component: str,
    input: Any,
    *,
    start_to_close: Duration,
    schedule_to_close: Optional[Duration] = None,
    heartbeat: Optional[Duration] = None,
    retry: Optional[RetryPolicy] = None,
) -> Any:
    """Runs activity ``component`` (a name or digest) on ``input`` (sent as
    JSON) and returns its output, decoded from JSON.

    Each attempt runs in a fresh instance; its result is journaled before
    the workflow sees it, and a replay returns it without running the
    activity. An attempt in flight when the host crashes is retried, so
    activities must be idempotent.

    Args:
        start_to_close: Longest one attempt may run (seconds or a
            ``timedelta``), at most the host's cap (10 min by default).
        schedule_to_close: Longest all attempts and waits may take together.
        heartbeat: Longest an attempt may go without a heartbeat.
        retry: How failed attempts are retried; without one the first
            answer is final.

    Raises :class:`ActivityError` with the last attempt's error.
    """
    options = activities.ActivityOptions(
        start_to_close_timeout_ms=to_ms(start_to_close),
        schedule_to_close_timeout_ms=to_ms(schedule_to_close) if schedule_to_close is not None else None,
        heartbeat_timeout_ms=to_ms(heartbeat) if heartbeat is not None else None,
        retry=retry._to_wit() if retry is not None else None,
    )
    try:
        output = activities.call(component, json.dumps(input, allow_nan=False), options)
    except Err as error:
        failure = error.value
        details = json.loads(failure.details) if failure.details is not None else None
        raise ActivityError(failure.type_name, failure.message, failure.non_retryable, details) from None
    return json.loads(output)
