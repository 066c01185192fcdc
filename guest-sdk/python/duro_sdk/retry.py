"""How the host retries a failed effect (HTTP or activity)."""

from dataclasses import dataclass, field
from typing import List

from wit_world.imports import types

from ._duration import Duration, to_ms


@dataclass
class RetryPolicy:
    """How the host retries a failed effect, after Temporal's ``RetryPolicy``.

    The wait before attempt n+1 is ``initial_interval * backoff_coefficient
    ** (n - 1)``, capped at ``maximum_interval``. Attempts and waits are
    journaled, so a restart during a wait resumes the schedule where it was.

    Attributes:
        maximum_attempts: Most attempts in all, the first included; 0 means
            no limit (the journal's budget still stops it).
        initial_interval: Wait after the first failure (seconds or a
            ``timedelta``); 0 means 1 s.
        backoff_coefficient: Factor the wait grows by with each failure; at
            least 1.0.
        maximum_interval: Longest wait; 0 means 100 times the initial one.
        non_retryable_error_types: Error types never retried: for HTTP
            ``timeout``, ``connection`` and ``status-NNN``; for activities
            the type names they raise.

    Example::

        policy = RetryPolicy(maximum_attempts=5, initial_interval=0.5)
    """

    maximum_attempts: int = 0
    initial_interval: Duration = 1.0
    backoff_coefficient: float = 2.0
    maximum_interval: Duration = 0
    non_retryable_error_types: List[str] = field(default_factory=list)

    def _to_wit(self) -> types.RetryPolicy:
        return types.RetryPolicy(
            initial_interval_ms=to_ms(self.initial_interval),
            backoff_coefficient=float(self.backoff_coefficient),
            maximum_interval_ms=to_ms(self.maximum_interval),
            maximum_attempts=self.maximum_attempts,
            non_retryable_error_types=list(self.non_retryable_error_types),
        )
