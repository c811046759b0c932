"""Klaviyo-style fixed-window rate limits: burst (1 s), steady (60 s) and optional daily.

Counters are per bucket (account id + operation id, or a variant name for the option-
dependent tiers). A request over any window is refused with the seconds until that window
resets; allowed requests get ``RateLimit-Limit`` / ``-Remaining`` / ``-Reset`` for the
steady window. ``scale`` multiplies every limit (1.0 = Klaviyo's, 10 = ten times looser);
0 or less turns limiting off. The clock is injectable so tests never wait.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

BURST_SECONDS = 1
STEADY_SECONDS = 60
DAILY_SECONDS = 86_400


@dataclass(frozen=True)
class Limits:
    """Limits for one bucket: requests per second, per minute, per day (None = no daily cap)."""

    burst: int
    steady: int
    daily: int | None = None


@dataclass
class Decision:
    allowed: bool
    retry_after: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


class RateLimiter:
    def __init__(self, clock: Callable[[], float], scale: float = 1.0) -> None:
        self.clock = clock
        self.scale = scale
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, int], list[float]] = {}  # (bucket, seconds) -> [start, count]

    @property
    def enabled(self) -> bool:
        return self.scale > 0

    def _scaled(self, limit: int) -> int:
        return max(1, int(limit * self.scale))

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()

    def check(self, bucket: str, limits: Limits | None) -> Decision:
        """Count one request against ``bucket``; refuse it if any window is already full."""
        if limits is None or not self.enabled:
            return Decision(True)
        windows = [(BURST_SECONDS, self._scaled(limits.burst)), (STEADY_SECONDS, self._scaled(limits.steady))]
        if limits.daily:
            windows.append((DAILY_SECONDS, self._scaled(limits.daily)))
        now = self.clock()
        with self._lock:
            states: list[tuple[int, int, list[float]]] = []
            retry_after = 0
            for seconds, limit in windows:
                start = math.floor(now / seconds) * seconds
                state = self._windows.get((bucket, seconds))
                if state is None or state[0] != start:
                    state = [start, 0]
                    self._windows[(bucket, seconds)] = state
                states.append((seconds, limit, state))
                if state[1] >= limit:
                    retry_after = max(retry_after, max(1, math.ceil(start + seconds - now)))
            if retry_after:
                return Decision(False, retry_after=retry_after, headers={"Retry-After": str(retry_after)})
            for _, _, state in states:
                state[1] += 1
            _, steady_limit, steady = states[1]
        remaining = max(0, steady_limit - int(steady[1]))
        reset = max(1, math.ceil(steady[0] + STEADY_SECONDS - now))
        return Decision(
            True,
            headers={
                "RateLimit-Limit": str(steady_limit),
                "RateLimit-Remaining": str(remaining),
                "RateLimit-Reset": str(reset),
            },
        )
