"""Client-side pacing: before each request, wait for a slot in the account's budget for its operation.

Klaviyo counts every account's requests per operation in two windows: burst (per second) and
steady (per minute), at the limits its spec gives each operation (``catalog.Operation.rate_limit``).
A client that stays under both never draws a 429 from its own traffic; Retry-After handling (see
``retry.py``) stays for what pacing cannot foresee: other clients of the same account, and the
stricter tiers some operations apply to certain options. Daily quotas are left to Klaviyo (its
429 says ``quota_exhausted``): a process cannot know what the rest of the day used.

The buckets are pyrate-limiter's sliding-window logs: at most ``limit`` requests in any window,
so none of Klaviyo's fixed windows ever holds more. They live in this process, or in Redis
(``redis_url``, the optional ``redis`` extra) where every worker process, on one machine or many,
draws on one account's budget. When Redis cannot be reached the buckets fall back to this
process (a warning, once, with the password masked) and Redis is tried again after
``REDIS_RETRY_SECONDS``; an action never fails because of it.

A bucket's key is the account (a SHA-256 fingerprint of the Base URL's origin and the credential,
never the credential itself) and the operation ID. Timestamps are epoch seconds from the
client's clock, the same on every worker sharing Redis (keep their clocks in sync, e.g. NTP).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from .catalog import RateLimit

log = logging.getLogger("klaviyo_connector.pacing")

BURST_SECONDS = 1.0
STEADY_SECONDS = 60.0
# Each window is paced as this much longer than Klaviyo's, in seconds, so that a request's trip
# to the server (which reads its own clock on arrival) cannot carry it into the next window of
# the server's count. It costs 0.3% of a steady (per-minute) budget.
WINDOW_MARGIN = 0.2
# After Redis fails, buckets stay local this long (seconds) before Redis is tried again.
REDIS_RETRY_SECONDS = 30.0
# Old entries are removed from a bucket at most this often (seconds).
LEAK_EVERY = 10.0
REDIS_KEY_PREFIX = "klaviyo-connector:pace:"


class WaitTooLong(Exception):
    """The next slot is ``seconds`` away, past what the caller may wait; nothing was taken."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"{seconds:.3f} s")
        self.seconds = seconds


def account_key(base_url: str, credential: str) -> str:
    """A stable, non-secret name for an account: SHA-256 (hex) of the API's origin and the
    credential (an API key; an OAuth client ID and grant), so no bucket key reveals either."""
    parts = urlsplit(base_url)
    origin = f"{parts.scheme.lower()}://{(parts.netloc or '').lower()}"
    return hashlib.sha256(f"{origin}\n{credential}".encode()).hexdigest()


def scaled(tier: RateLimit, scale: float) -> tuple[int, int]:
    """(burst, steady) requests per window at ``scale`` (1.0 = Klaviyo's), at least 1 each,
    rounded down as the sandbox rounds its own (sandbox/ratelimit.py)."""
    return max(1, int(tier.burst * scale)), max(1, int(tier.steady * scale))


def shown_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


@cache
def _rate_item() -> Any:
    """pyrate-limiter's RateItem, imported on first use (a from-import per request showed)."""
    from pyrate_limiter import RateItem

    return RateItem


def _policy() -> Any:
    """pyrate-limiter's sliding-window log: at most ``limit`` entries in any ``interval``."""
    from pyrate_limiter import SlidingWindowLog

    return SlidingWindowLog()


class _Bucket:
    """One account's budget for one operation: a pyrate-limiter bucket and the lock that makes
    its check-and-record one step for this process's threads."""

    __slots__ = ("bucket", "leaked", "lock", "redis")

    def __init__(self, bucket: Any, redis: Any = None) -> None:
        self.bucket = bucket
        self.redis = redis  # the Redis client, for a Redis bucket
        self.lock = threading.Lock()
        self.leaked = 0.0


class Pacing:
    """The rate-limit buckets of every client of one Runner (or of one KlaviyoClient).

    Thread-safe. ``redis_url`` (``redis://[:password@]host:port/db``, ``rediss://`` for TLS)
    keeps the buckets in Redis, shared with every process using the same server.
    """

    def __init__(self, redis_url: str | None = None) -> None:
        self.redis_url = redis_url
        self._lock = threading.Lock()
        self._local: dict[tuple[str, str, int, int], _Bucket] = {}
        self._shared: dict[tuple[str, str, int, int], _Bucket] = {}
        self._redis: Any = None
        self._redis_down_until = 0.0  # monotonic time before which Redis is not tried again
        self._warned = False

    def __repr__(self) -> str:
        where = shown_url(self.redis_url) if self.redis_url else "this process"
        return f"Pacing({where})"

    # -- taking a slot ------------------------------------------------------------------------

    def acquire(
        self,
        account: str,
        operation: str,
        tier: RateLimit,
        *,
        scale: float,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        budget: float | None = None,
        on_wait: Callable[[float], None] | None = None,
    ) -> float:
        """Wait (with ``sleep``) until a request to ``operation`` fits ``tier`` (scaled by
        ``scale``) for ``account``, and count it; return the seconds waited.

        ``clock`` gives epoch seconds. A sleep that does not move the clock (a test's) still
        counts as time passed, so no caller spins. ``on_wait(seconds)`` hears of each wait
        before it starts. Raises :class:`WaitTooLong` instead of waiting past ``budget``
        seconds from the call (no slot is then taken).
        """
        burst, steady = scaled(tier, scale)
        start = at = clock()
        while True:
            wait = self._try(account, operation, burst, steady, at)
            if wait <= 0:
                return at - start
            if budget is not None and at - start + wait >= budget:
                raise WaitTooLong(at - start + wait)
            if on_wait is not None:
                on_wait(wait)
            sleep(wait)
            at = max(clock(), at + wait)

    def _try(self, account: str, operation: str, burst: int, steady: int, at: float) -> float:
        """Take a slot at ``at``: 0, or the seconds until one may be free (nothing taken)."""
        item = _rate_item()(operation, round(at * 1000))
        entry = self._bucket(account, operation, burst, steady)
        try:
            return self._put(entry, item, at)
        except Exception as exc:  # Redis went away mid-run: pace locally from now on
            if entry.redis is None:
                raise
            self._redis_failed(exc)
            return self._put(self._local_bucket(account, operation, burst, steady), item, at)

    @staticmethod
    def _put(entry: _Bucket, item: Any, at: float) -> float:
        bucket = entry.bucket
        late = 0
        with entry.lock:  # put_decision records its verdict on the bucket object
            if entry.redis is None:
                # A local log must stay in time order (it is searched by bisection): a thread
                # that read the clock just before another one took its slot counts from that slot.
                newest = bucket.peek(0)
                if newest is not None and newest.timestamp > item.timestamp:
                    late = newest.timestamp - item.timestamp
                    item.timestamp = newest.timestamp
            decision = bucket.put_decision(item)
            if decision.allowed:
                if at - entry.leaked >= LEAK_EVERY:
                    entry.leaked = at
                    bucket.leak(item.timestamp)
                    if entry.redis is not None:  # forgotten once no worker has used it for 2 windows
                        entry.redis.pexpire(
                            bucket.bucket_key, int(2 * (STEADY_SECONDS + WINDOW_MARGIN) * 1000)
                        )
                return 0.0
            wait_ms = decision.retry_after_ms
            if wait_ms is None:
                wait_ms = bucket.waiting(item)
            # The bucket names the first full window it finds (the burst one): wait for every
            # full window at once, so a wait past the caller's budget is known before any sleep.
            policy = _policy()
            for rate in bucket.rates:
                blocking = bucket.peek(policy.blocking_offset(rate, 1))
                if blocking is not None:
                    wait_ms = max(wait_ms, policy.retry_after(rate, item.timestamp, blocking.timestamp))
        return (late + max(wait_ms, 1)) / 1000

    # -- buckets ------------------------------------------------------------------------------

    def _bucket(self, account: str, operation: str, burst: int, steady: int) -> _Bucket:
        if self.redis_url is not None:
            shared = self._shared_bucket(account, operation, burst, steady)
            if shared is not None:
                return shared
        return self._local_bucket(account, operation, burst, steady)

    @staticmethod
    def _rates(burst: int, steady: int) -> list[Any]:
        from pyrate_limiter import Rate

        return [
            Rate(burst, int((BURST_SECONDS + WINDOW_MARGIN) * 1000)),
            Rate(steady, int((STEADY_SECONDS + WINDOW_MARGIN) * 1000)),
        ]

    def _local_bucket(self, account: str, operation: str, burst: int, steady: int) -> _Bucket:
        key = (account, operation, burst, steady)
        entry = self._local.get(key)
        if entry is None:
            from pyrate_limiter import InMemoryBucket

            with self._lock:
                entry = self._local.get(key)
                if entry is None:
                    entry = self._local[key] = _Bucket(InMemoryBucket(self._rates(burst, steady)))
        return entry

    def _shared_bucket(self, account: str, operation: str, burst: int, steady: int) -> _Bucket | None:
        """The Redis bucket, or None while Redis is known to be unreachable."""
        import time

        key = (account, operation, burst, steady)
        entry = self._shared.get(key)
        if entry is not None:
            return entry
        if time.monotonic() < self._redis_down_until:
            return None
        with self._lock:
            entry = self._shared.get(key)
            if entry is not None:
                return entry
            try:
                from pyrate_limiter import RedisBucket

                if self._redis is None:
                    self._redis = self._connect()
                # Limits are part of the name: a worker at another scale has its own bucket.
                name = f"{REDIS_KEY_PREFIX}{account}:{operation}:{burst}/s:{steady}/m"
                bucket = RedisBucket.init(self._rates(burst, steady), self._redis, name)
            except ImportError as exc:
                self._redis_failed(exc, missing=True)
                return None
            except Exception as exc:
                self._redis_failed(exc)
                return None
            entry = self._shared[key] = _Bucket(bucket, self._redis)
            if self._warned:  # back after a failure: a later failure is worth a warning again
                self._warned = False
                log.info("Redis for rate-limit pacing (%s) answers again", shown_url(self.redis_url))
            return entry

    def _connect(self) -> Any:
        import redis

        # Short timeouts: an unreachable server costs a request about a second, once.
        return redis.Redis.from_url(
            self.redis_url, socket_connect_timeout=1.0, socket_timeout=1.0, health_check_interval=30
        )

    def _redis_failed(self, exc: BaseException, *, missing: bool = False) -> None:
        import time

        self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
        self._shared.clear()  # rebuilt (script loaded again) once Redis answers
        if self._warned:
            return
        self._warned = True
        where = shown_url(self.redis_url or "")
        password = urlsplit(self.redis_url or "").password
        said = str(exc).replace(password, "***") if password else str(exc)
        if missing:
            said = "the redis package is not installed (pip install 'klaviyo-connector[redis]')"
        log.warning(
            "Redis for rate-limit pacing (%s) cannot be used (%s: %s); pacing in this process only, "
            "so other workers of the same account are not counted until it is back",
            where,
            type(exc).__name__,
            said,
        )

    def close(self) -> None:
        with self._lock:
            if self._redis is not None:
                self._redis.close()
                self._redis = None
            self._shared.clear()
            self._local.clear()
