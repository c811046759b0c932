"""Deadlines: how long one HTTP exchange, and one action run with its retries and waits, may last.

A socket timeout bounds each read, not a call: a server that drips one byte a second keeps a
call alive forever. Two bounds close that gap:

- :func:`run_deadline` sets, for the current thread (a context variable), the moment by which a
  whole action run must end; the HTTP client clamps every timeout and every retry wait to it.
- :class:`ExchangeWatch` bounds one exchange (connect, send, headers and the whole body): a
  single daemon thread shuts down the sockets of exchanges past their deadline, which wakes
  any read blocked on them. The connection pools register each connection they use with the
  current watch (:func:`attach_to_watch`: pool.py's directly, urllib3's through
  :class:`WatchedPoolMixin`).

Both kinds of pool also judge an idle connection before reuse with :func:`has_unread_data`.
"""

from __future__ import annotations

import contextvars
import heapq
import itertools
import logging
import socket
import ssl
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import urllib3.connection
import urllib3.poolmanager
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.wait import wait_for_read

from .scoped import Scoped

_run_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "klaviyo_run_deadline", default=None
)
_current_watch: contextvars.ContextVar[ExchangeWatch | None] = contextvars.ContextVar(
    "klaviyo_exchange_watch", default=None
)


def run_deadline(seconds: float | None) -> AbstractContextManager[Any]:
    """Within the block, every request and retry wait ends by ``seconds`` from now (None: no
    bound). Nested blocks keep the earlier deadline."""
    if seconds is None:
        return nullcontext()
    at = time.monotonic() + seconds
    outer = _run_deadline.get()
    return Scoped(_run_deadline, at if outer is None else min(at, outer))


def remaining() -> float | None:
    """Seconds left before the current run's deadline (may be <= 0), or None when unbounded."""
    at = _run_deadline.get()
    return None if at is None else at - time.monotonic()


class ExchangeWatch:
    """One exchange's deadline; ``fired`` is True once its deadline passed."""

    __slots__ = ("_conns", "_lock", "_token", "at", "fired", "live")

    def __init__(self, at: float) -> None:
        self.at = at
        self.fired = False
        self.live = False
        self._conns: list[Any] = []
        self._lock = threading.Lock()

    def attach(self, conn: Any) -> None:
        with self._lock:
            if conn not in self._conns:  # once: one detach must free it
                self._conns.append(conn)
            if self.fired:
                _shutdown(conn)

    def detach(self, conn: Any) -> None:
        """``conn`` goes back to its pool: from now on it may serve another exchange."""
        with self._lock:
            if conn in self._conns:
                self._conns.remove(conn)

    def fire(self) -> bool:
        """Shut down every attached socket; True if one was still connecting (no socket yet).

        Under the lock ``detach`` takes, so a connection already back in its pool is never hit."""
        with self._lock:
            self.fired = True
            return not all([_shutdown(conn) for conn in self._conns])

    def __enter__(self) -> ExchangeWatch:
        """Register with the watchdog and make this the watch new connections attach to."""
        self._token = _current_watch.set(self)
        _WATCHDOG.add(self)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        _current_watch.reset(self._token)
        _WATCHDOG.remove(self)


def _shutdown(conn: Any) -> bool:
    """Shut ``conn``'s socket down; False if it has none yet."""
    sock = getattr(conn, "sock", None)
    if sock is None:
        return False
    # TLS inside a TLS proxy's tunnel is urllib3's SSLTransport, which has no shutdown: its
    # ``socket`` is the one carrying the tunnel.
    target = sock if hasattr(sock, "shutdown") else getattr(sock, "socket", None)
    try:
        target.shutdown(socket.SHUT_RDWR)  # wakes a recv blocked in another thread; close() may not
    except (OSError, AttributeError):
        pass
    return True


# A socket still connecting when its deadline passed is looked at again this often.
RECHECK_SECONDS = 0.05


class _Watchdog:
    """One daemon thread for every watch in the process, started on first use."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, ExchangeWatch]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        # When the thread will look next (inf: not before it is woken). A new deadline later
        # than that needs no wake-up: waking the thread on every request would cost a switch.
        self._wakes_at = float("inf")

    def add(self, watch: ExchangeWatch) -> None:
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="klaviyo-deadlines", daemon=True)
                self._thread.start()
            watch.live = True
            self._push(watch, watch.at)

    def _push(self, watch: ExchangeWatch, at: float) -> None:
        heapq.heappush(self._heap, (at, next(self._seq), watch))
        if at < self._wakes_at:
            self._cond.notify()

    def remove(self, watch: ExchangeWatch) -> None:
        with self._cond:
            watch.live = False
            # Finished exchanges leave their entries; drop those at the top so the heap stays small.
            while self._heap and not self._heap[0][2].live:
                heapq.heappop(self._heap)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._wakes_at = float("inf")
                    self._cond.wait()
                at, _, watch = self._heap[0]
                delay = at - time.monotonic()
                if delay > 0:
                    self._wakes_at = at
                    self._cond.wait(delay)
                    continue
                heapq.heappop(self._heap)
                due = watch.live
            if due and self._fire(watch):
                with self._cond:
                    if watch.live:
                        self._push(watch, time.monotonic() + RECHECK_SECONDS)

    @staticmethod
    def _fire(watch: ExchangeWatch) -> bool:
        # The one thread serves every deadline in the process: nothing may end it.
        try:
            return watch.fire()
        except Exception:
            logging.getLogger("klaviyo_connector.deadline").exception("shutting down an exchange failed")
            return False


_WATCHDOG = _Watchdog()


def attach_to_watch(conn: Any) -> None:
    """``conn`` (with a ``sock`` once connected) serves the current exchange: shut it down if
    that exchange's deadline passes."""
    watch = _current_watch.get()
    if watch is not None:
        watch.attach(conn)


def detach_from_watch(conn: Any) -> None:
    """``conn`` goes back to its pool: the current exchange's deadline no longer concerns it."""
    watch = _current_watch.get()
    if watch is not None and conn is not None:
        watch.detach(conn)


def has_unread_data(sock: socket.socket | None) -> bool:
    """Whether an idle kept-alive socket has something to read: the server closed it, or sent
    bytes past its last answer, which the next request would read as its own answer. Over TLS
    those bytes may already be decrypted and waiting in the TLS layer, where the socket does
    not look readable."""
    if sock is None:
        return False
    if wait_for_read(sock, timeout=0.0):
        return True
    if isinstance(sock, ssl.SSLSocket):
        return sock.pending() > 0
    tls = getattr(sock, "sslobj", None)  # urllib3's SSLTransport: TLS inside a TLS proxy's tunnel
    return isinstance(tls, ssl.SSLObject) and tls.pending() > 0


class _Handed:
    """A socket http.client handed from its connection to a response that closes it, as a
    watch sees a connection (``sock``). Never pooled, so never detached."""

    __slots__ = ("sock",)

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock


class WatchedConnectionMixin:
    """For an http.client connection: when the server closes after an answer, http.client
    hands the socket to the response (the connection's ``sock`` becomes None); the current
    exchange's watch is given that socket, so a body that drips is still cut off on time."""

    sock: Any

    def getresponse(self) -> Any:
        sock = self.sock
        response = super().getresponse()  # type: ignore[misc]
        if self.sock is None and sock is not None:
            detach_from_watch(self)
            attach_to_watch(_Handed(sock))
        return response


class WatchedHTTPConnection(WatchedConnectionMixin, urllib3.connection.HTTPConnection):
    pass


class WatchedHTTPSConnection(WatchedConnectionMixin, urllib3.connection.HTTPSConnection):
    pass


class WatchedPoolMixin:
    """Attaches each connection an exchange uses to the current :class:`ExchangeWatch`."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        if has_unread_data(getattr(conn, "sock", None)):
            conn.close()  # as urllib3 closes one it finds dropped; it reconnects on use
        return conn

    def _prepare_proxy(self, conn: Any) -> None:
        attach_to_watch(conn)  # the CONNECT exchange and the TLS handshake through the tunnel
        super()._prepare_proxy(conn)  # type: ignore[misc]

    def _make_request(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
        attach_to_watch(conn)
        return super()._make_request(conn, *args, **kwargs)  # type: ignore[misc]

    def _put_conn(self, conn: Any) -> None:
        detach_from_watch(conn)
        super()._put_conn(conn)  # type: ignore[misc]


class WatchedHTTPConnectionPool(WatchedPoolMixin, HTTPConnectionPool):
    ConnectionCls = WatchedHTTPConnection


class WatchedHTTPSConnectionPool(WatchedPoolMixin, HTTPSConnectionPool):
    ConnectionCls = WatchedHTTPSConnection


POOL_CLASSES = {"http": WatchedHTTPConnectionPool, "https": WatchedHTTPSConnectionPool}


class WatchedAdapter(HTTPAdapter):
    """requests' adapter whose pools attach each connection to the current exchange's watch."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = POOL_CLASSES

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        # Through an HTTP(S) proxy too; a SOCKS manager keeps its own pool classes.
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if manager.pool_classes_by_scheme is urllib3.poolmanager.pool_classes_by_scheme:
            manager.pool_classes_by_scheme = POOL_CLASSES
        return manager


def bounded(seconds: float) -> ExchangeWatch:
    """``with bounded(seconds) as watch``: every exchange made within the block, through a
    :class:`WatchedAdapter` or an OriginPool, ends by ``seconds`` from now: its sockets are shut
    down then, wherever it is."""
    return ExchangeWatch(time.monotonic() + seconds)
