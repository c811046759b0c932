"""Webhook delivery: signed POSTs to subscribed loopback URLs when an event is recorded, with retries.

The sandbox's webhooks (``resources/webhooks.py``) store, per webhook, the sequence number of the
last event already handed to it (``_after_seq``). :meth:`Deliveries.run_due` looks at the store for
events recorded since (by any request, any process sharing the state file), sends each webhook
one delivery per batch of matching events, signed as Klaviyo signs them
(:mod:`klaviyo_connector.webhooks`), and retries a delivery that fails (a non-2xx answer, a refused
or timed-out connection) after :data:`BACKOFF` seconds, re-signed each time, up to
:data:`MAX_ATTEMPTS` attempts. Times come from the sandbox's clock, so a test moves a fake clock
and calls ``run_due()``: nothing really waits.

A background thread calls ``run_due()`` every :data:`POLL_INTERVAL` seconds once a process has
served a webhooks request, so ``klaviyo-connector trigger listen --sandbox`` receives deliveries
for events that other commands record. Only loopback URLs are delivered to (the sandbox never
reaches beyond this machine); others are accepted, as Klaviyo accepts them, and never called.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..webhooks import signed_headers
from .context import RequestContext, Route, iso
from .server import is_loopback
from .store import Resource, Store

log = logging.getLogger("klaviyo_connector.sandbox.webhooks")

WEBHOOK = "webhook"
EVENT = "event"
TOPIC_PREFIX = "event:klaviyo."
# Seconds to wait before attempts 2, 3, ...; a delivery gives up after MAX_ATTEMPTS.
BACKOFF = (1.0, 5.0, 30.0, 120.0, 600.0)
MAX_ATTEMPTS = len(BACKOFF) + 1
BATCH = 100  # events per delivery (Klaviyo batches events in data[])
POLL_INTERVAL = 0.1
SEND_TIMEOUT = 5.0

# send(url, body, headers) -> HTTP status; raises OSError when no answer came.
Send = Callable[[str, bytes, dict[str, str]], int]


def topic_for(metric_name: str) -> str:
    """A metric's webhook topic: ``Placed Order`` -> ``event:klaviyo.placed_order``."""
    slug = "".join(ch if ch.isalnum() else "_" for ch in metric_name.lower()).strip("_")
    while "__" in slug:
        slug = slug.replace("__", "_")
    return TOPIC_PREFIX + slug


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST with the standard library (the receiver is on loopback)."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=SEND_TIMEOUT) as answer:  # noqa: S310 - loopback only
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@dataclass
class Delivery:
    """One signed POST to a webhook's URL, and its attempts so far."""

    account_id: str
    webhook_id: str
    items: list[dict[str, Any]]
    attempts: int = 0
    due: float = 0.0
    statuses: list[int | str] = field(default_factory=list)


class Deliveries:
    """The deliveries of one sandbox store (see the module docstring)."""

    def __init__(self, store: Store, clock: Callable[[], float], send: Send = post) -> None:
        self.store = store
        self.clock = clock
        self.send = send
        self.queue: list[Delivery] = []
        self.delivered: list[Delivery] = []
        self.failed: list[Delivery] = []
        self.base_url = "http://127.0.0.1"
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the worker ----------------------------------------------------------------------

    def start(self) -> None:
        """Run :meth:`run_due` in a daemon thread every POLL_INTERVAL seconds (idempotent)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="sandbox-webhooks", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(POLL_INTERVAL):
            try:
                self.run_due()
            except sqlite3.ProgrammingError:  # the store was closed: the sandbox stopped
                forget(self.store)
                return
            except Exception:  # a sandbox bug: say so, and keep delivering
                log.exception("webhook delivery failed")

    def run_due(self) -> int:
        """Queue deliveries for events recorded since the last call, then attempt every delivery
        that is due by the clock; returns how many attempts were made."""
        with self._lock:
            self._collect()
            now = self.clock()
            due = [d for d in self.queue if d.due <= now]
            for delivery in due:
                self._attempt(delivery)
            return len(due)

    # -- collecting events ---------------------------------------------------------------

    def _collect(self) -> None:
        for account_id in self.store.account_ids():
            for webhook in self.store.list_resources(account_id, WEBHOOK):
                if webhook.attributes.get("enabled", True):
                    self._collect_for(account_id, webhook)

    def _collect_for(self, account_id: str, webhook: Resource) -> None:
        after = int(webhook.attributes.get("_after_seq") or 0)
        topics = set(webhook.attributes.get("_topics") or [])
        items: list[dict[str, Any]] = []
        last = after
        metric_names: dict[str, str] = {}
        for event, key in self.store.scan(account_id, EVENT, order=[("r.seq", False)], after=(after,)):
            last = int(key[-1])
            metric_id = str(event.attributes.get("metric_id") or "")
            if metric_id not in metric_names:
                metric = self.store.get(account_id, "metric", metric_id)
                metric_names[metric_id] = str(metric.attributes.get("name") or "") if metric else ""
            topic = topic_for(metric_names[metric_id])
            if topic in topics:
                items.append(
                    {"topic": topic, "external_id": event.id, "payload": self._payload(account_id, event)}
                )
        if last == after:
            return
        with self.store.transaction():  # claim the events, unless another worker already has
            current = self.store.get(account_id, WEBHOOK, webhook.id)
            if current is None or int(current.attributes.get("_after_seq") or 0) != after:
                return
            self.store.update(
                account_id,
                WEBHOOK,
                webhook.id,
                attributes={**current.attributes, "_after_seq": last},
                now=current.updated,
            )
        for start in range(0, len(items), BATCH):
            self.queue.append(
                Delivery(account_id, webhook.id, items[start : start + BATCH], due=self.clock())
            )

    def _payload(self, account_id: str, event: Resource) -> dict[str, Any]:
        """The event as Get Event renders it (``{"data": ..., "links": ...}``)."""
        from werkzeug.test import EnvironBuilder
        from werkzeug.wrappers import Request

        from .resources import events

        path = f"/api/events/{event.id}"
        request = Request(EnvironBuilder(path=path, base_url=self.base_url).get_environ())
        route = Route("GET", "/api/events/{id}", events.get_event, "get_event")
        ctx = RequestContext(request, self.store, route, {"id": event.id}, None, self.clock)
        ctx.account_id = account_id
        return {"data": events.render(ctx, event, []), "links": ctx.self_link(path)}

    # -- sending -------------------------------------------------------------------------

    def _attempt(self, delivery: Delivery) -> None:
        webhook = self.store.get(delivery.account_id, WEBHOOK, delivery.webhook_id)
        if webhook is None:  # deleted meanwhile: nothing to deliver to
            self.queue.remove(delivery)
            return
        url = str(webhook.attributes.get("endpoint_url") or "")
        if not is_loopback(urlsplit(url).hostname or ""):
            self.queue.remove(delivery)  # accepted as Klaviyo would, never sent off this machine
            return
        now = self.clock()
        body = json.dumps(
            {
                "data": delivery.items,
                "meta": {
                    "klaviyo_account_id": delivery.account_id,
                    "klaviyo_webhook_id": webhook.id,
                    "timestamp": iso(now),
                },
            },
            separators=(",", ":"),
        ).encode()
        secret = str(webhook.attributes.get("_secret_key") or "")
        delivery.attempts += 1
        try:
            status: int | str = self.send(url, body, signed_headers(secret, body, webhook.id, now))
        except OSError as exc:
            status = type(exc).__name__
        delivery.statuses.append(status)
        if isinstance(status, int) and 200 <= status < 300:
            self.queue.remove(delivery)
            self.delivered.append(delivery)
        elif delivery.attempts >= MAX_ATTEMPTS:
            self.queue.remove(delivery)
            self.failed.append(delivery)
            log.warning("webhook %s: gave up after %d attempts (%s)", webhook.id, delivery.attempts, status)
        else:
            delivery.due = now + BACKOFF[delivery.attempts - 1]


# By id(store): each Deliveries holds its store, so an id can't be reused while it is listed; the
# worker drops its entry when the store closes.
_BY_STORE: dict[int, Deliveries] = {}
_REGISTRY_LOCK = threading.Lock()


def deliveries(store: Store, clock: Callable[[], float]) -> Deliveries:
    """The store's :class:`Deliveries` (made on first use, with the sandbox's clock)."""
    with _REGISTRY_LOCK:
        found = _BY_STORE.get(id(store))
        if found is None:
            found = _BY_STORE[id(store)] = Deliveries(store, clock)
        return found


def forget(store: Store) -> None:
    with _REGISTRY_LOCK:
        _BY_STORE.pop(id(store), None)


def started(ctx: RequestContext) -> Deliveries:
    """The request's store's deliveries, its worker running and its links on the request's host."""
    found = deliveries(ctx.store, ctx.clock)
    found.base_url = ctx.base_url
    found.start()
    return found
