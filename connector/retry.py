"""When to retry a Klaviyo request and how long to wait: one policy for every caller."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# Methods whose repetition cannot create a second effect.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@dataclass(frozen=True)
class RetryPolicy:
    """Retry rules.

    A 429 is always retried (Klaviyo did not process the request). 5xx, 408, timeouts and
    connection errors are retried only for safe methods or calls flagged idempotent, unless
    ``retry_unsafe`` is set. ``retry_all_errors`` retries every non-2xx response. Waits grow
    exponentially with jitter, each capped at ``max_delay`` but never shorter than the
    server's Retry-After; all waits together never exceed ``max_total_wait``.
    """

    max_retries: int = 3
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_total_wait: float = 120.0
    exponential: bool = True
    jitter: float = 0.5  # fraction of each exponential wait that is randomised away
    retry_unsafe: bool = False
    retry_all_errors: bool = False

    def should_retry(self, method: str, status: int | None, *, idempotent: bool = False) -> bool:
        """``status`` is None for a timeout or connection error."""
        if status == 429:
            return True
        if self.retry_all_errors:
            return status is None or not 200 <= status < 300
        repeatable = idempotent or method.upper() in SAFE_METHODS or self.retry_unsafe
        if status is None or status == 408 or status >= 500:
            return repeatable
        return False

    def delay(self, retry_index: int, retry_after: float | None, random: Callable[[], float]) -> float:
        """The wait before retry number ``retry_index`` (0-based)."""
        if self.exponential:
            wait = min(self.max_delay, self.base_delay * (2**retry_index))
            wait -= wait * self.jitter * random()
        else:
            wait = self.base_delay
        if retry_after is not None:
            wait = max(wait, retry_after)
        return wait


NO_RETRY = RetryPolicy(max_retries=0)
