"""How fast the sandbox answers: the three figures of issue 10, side by side in one run.

1. **GET one profile**: requests per second on 8 keep-alive connections, the sandbox next to a
   plain ``http.server`` stub (HTTP/1.1, keep-alive, a fixed ~2 KB profile document) driven by
   the same client in the same run. Goal: sandbox/stub >= 0.4.
2. **fetchAll of profiles**: every page of ``GET /api/profiles?page[size]=100`` followed through
   ``links.next``, over 10,000 and over 100,000 stored profiles; milliseconds per 1,000 records
   at each size. Goal: the 100k figure at most 1.5x the 10k one (paging stays linear).
3. **Bulk event ingestion**: ``POST /api/event-bulk-create-jobs`` bodies of 1,000 events, sent
   by 4 client threads; events stored per second, for two shapes of body: 1,000 profiles with
   one event each (a new profile per event: the costly shape) and 100 profiles with 10 events
   each. Goal: >= 10,000/s for both.

Each server runs in its own process (so this process's client threads don't share its GIL);
rate limits are off (``rate_limit_scale=0``): this measures the sandbox, not Klaviyo's limits.
The client is ``http.client`` on persistent connections, the leanest in the standard library, so
the stub's rate is close to what the machine can do. Loopback only; stops by itself.

    python benchmarks/sandbox_throughput.py [--seconds 3] [--large 100000] [--events 50000]
    python benchmarks/sandbox_throughput.py --only get,fetch,bulk
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from klaviyo_connector.revision import REVISION

API_KEY = "pk_benchmark_sandbox_throughput_01"
HEADERS = {
    "Authorization": f"Klaviyo-API-Key {API_KEY}",
    "revision": REVISION,
    "Accept": "application/vnd.api+json",
    "Content-Type": "application/vnd.api+json",
}

# -- servers in child processes -----------------------------------------------------------------


def _serve_sandbox(state_path: str, ready: Any) -> None:
    from klaviyo_connector.sandbox import Sandbox, SandboxOptions

    box = Sandbox(SandboxOptions(state_path=state_path, rate_limit_scale=0))
    box.serve_forever("127.0.0.1", 0, ready=ready.put)


class _StubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One write per answer and no Nagle delay: otherwise the header and body writes meet the
    # client's delayed ACK and the stub tops out at ~25 answers a second per connection.
    wbufsize = -1
    disable_nagle_algorithm = True
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.api+json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


def _serve_stub(body: bytes, ready: Any) -> None:
    _StubHandler.body = body
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StubHandler)
    server.daemon_threads = True
    ready.put(f"http://127.0.0.1:{server.server_address[1]}")
    server.serve_forever()


class Server:
    """A server process; ``url`` once it listens."""

    def __init__(self, target: Callable[..., None], *args: Any) -> None:
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        self.process = ctx.Process(target=target, args=(*args, queue), daemon=True)
        self.process.start()
        self.url: str = queue.get(timeout=60)

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(10)


# -- the client ---------------------------------------------------------------------------------


def _connection(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)


def request(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None) -> Any:
    conn.request(method, path, body=body, headers=HEADERS)
    response = conn.getresponse()
    data = response.read()
    if response.status >= 300:
        raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")
    return json.loads(data) if data else None


def rate(url: str, path: str, threads: int, seconds: float) -> float:
    """Requests per second that ``threads`` keep-alive connections get for ``GET path``."""
    counts = [0] * threads
    stop = time.perf_counter() + seconds
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        conn = _connection(url)
        try:
            while time.perf_counter() < stop:
                request(conn, "GET", path)
                counts[i] += 1
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            conn.close()

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]
    return sum(counts) / (time.perf_counter() - started)


# -- the measurements ---------------------------------------------------------------------------


def create_profile(conn: http.client.HTTPConnection) -> dict[str, Any]:
    body = {
        "data": {
            "type": "profile",
            "attributes": {
                "email": "sarah.mason@example.com",
                "first_name": "Sarah",
                "last_name": "Mason",
                "properties": {"plan": "gold", "source": "benchmark"},
                "location": {"city": "Boston", "country": "United States", "zip": "02110"},
            },
        }
    }
    return request(conn, "POST", "/api/profiles", json.dumps(body).encode())


def measure_get(seconds: float, threads: int) -> dict[str, float]:
    state = tempfile.mkdtemp(prefix="bench-sandbox-")
    sandbox = Server(_serve_sandbox, os.path.join(state, "get.sqlite3"))
    try:
        conn = _connection(sandbox.url)
        document = create_profile(conn)
        conn.close()
        path = f"/api/profiles/{document['data']['id']}"
        stub = Server(_serve_stub, json.dumps(document).encode())
        try:
            rate(stub.url, path, threads, 0.5)  # warm up both
            rate(sandbox.url, path, threads, 0.5)
            stub_rate = rate(stub.url, path, threads, seconds)
            sandbox_rate = rate(sandbox.url, path, threads, seconds)
        finally:
            stub.stop()
    finally:
        sandbox.stop()
    return {"sandbox": sandbox_rate, "stub": stub_rate, "ratio": sandbox_rate / stub_rate}


def seed_profiles(state_path: str, count: int) -> None:
    """``count`` profiles written straight into the state file (the benchmark is the reading)."""
    from klaviyo_connector.sandbox import Sandbox, SandboxOptions
    from klaviyo_connector.sandbox.store import Store

    box = Sandbox(SandboxOptions(state_path=state_path, rate_limit_scale=0))
    base = box.start()
    conn = _connection(base)
    request(conn, "GET", "/api/accounts")  # makes the key's account
    conn.close()
    box.stop()
    store = Store(state_path)
    (account,) = store.account_ids()
    from klaviyo_connector.sandbox.resources import profiles

    now = "2026-11-30T12:00:00+00:00"
    with store.transaction():
        for i in range(count):
            attributes = profiles.apply_changes(
                profiles.blank(), {"email": f"user{i:07d}@example.com", "first_name": f"User {i}"}
            )
            store.create(account, profiles.TYPE, f"01BENCH{i:019d}", attributes, now=now)
    store.close()


def fetch_all(url: str) -> int:
    conn = _connection(url)
    path: str | None = "/api/profiles?page%5Bsize%5D=100"
    records = 0
    while path:
        document = request(conn, "GET", path)
        records += len(document["data"])
        nxt = document["links"].get("next")
        path = None
        if nxt:
            parts = urlsplit(nxt)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
    conn.close()
    return records


def measure_fetch(sizes: list[int]) -> dict[int, float]:
    out: dict[int, float] = {}
    for size in sizes:
        state = os.path.join(tempfile.mkdtemp(prefix="bench-sandbox-"), "fetch.sqlite3")
        seed_profiles(state, size)
        sandbox = Server(_serve_sandbox, state)
        try:
            started = time.perf_counter()
            got = fetch_all(sandbox.url)
            elapsed = time.perf_counter() - started
        finally:
            sandbox.stop()
        if got != size:
            raise RuntimeError(f"fetchAll over {size} profiles returned {got} records")
        out[size] = elapsed / size * 1000 * 1000  # ms per 1,000 records
    return out


def bulk_body(batch: int, per_profile: int = 10, profiles_per_body: int = 100) -> bytes:
    items = []
    for p in range(profiles_per_body):
        events = [
            {
                "type": "event",
                "attributes": {
                    "metric": {"data": {"type": "metric", "attributes": {"name": "Placed Order"}}},
                    "properties": {"order_id": f"{batch}-{p}-{e}", "items": ["shirt"]},
                    "value": 9.99,
                    "time": "2026-11-30T12:00:00+00:00",
                    "unique_id": f"{batch}-{p}-{e}",
                },
            }
            for e in range(per_profile)
        ]
        items.append(
            {
                "type": "event-bulk-create",
                "attributes": {
                    "profile": {
                        "data": {"type": "profile", "attributes": {"email": f"buyer{batch}-{p}@example.com"}}
                    },
                    "events": {"data": events},
                },
            }
        )
    body = {"data": {"type": "event-bulk-create-job", "attributes": {"events-bulk-create": {"data": items}}}}
    return json.dumps(body).encode()


def measure_bulk(total_events: int, threads: int, per_profile: int) -> dict[str, float]:
    per_body = 1000
    shape = {"per_profile": per_profile, "profiles_per_body": per_body // per_profile}
    bodies = [bulk_body(i, **shape) for i in range(max(1, total_events // per_body))]
    state = os.path.join(tempfile.mkdtemp(prefix="bench-sandbox-"), "bulk.sqlite3")
    sandbox = Server(_serve_sandbox, state)
    try:
        conn = _connection(sandbox.url)
        request(conn, "POST", "/api/event-bulk-create-jobs", bulk_body(10**6, **shape))  # warm up
        conn.close()
        queue = list(bodies)
        lock = threading.Lock()
        errors: list[BaseException] = []

        def worker() -> None:
            conn = _connection(sandbox.url)
            try:
                while True:
                    with lock:
                        if not queue:
                            return
                        body = queue.pop()
                    request(conn, "POST", "/api/event-bulk-create-jobs", body)
            except BaseException as exc:
                errors.append(exc)
            finally:
                conn.close()

        started = time.perf_counter()
        pool = [threading.Thread(target=worker) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        elapsed = time.perf_counter() - started
        if errors:
            raise errors[0]
        conn = _connection(sandbox.url)
        # Count what was stored: every event of every body, none lost.
        stored = 0
        path: str | None = "/api/events?page%5Bsize%5D=200&fields%5Bevent%5D=datetime"
        while path:
            document = request(conn, "GET", path)
            stored += len(document["data"])
            nxt = document["links"].get("next")
            path = None
            if nxt:
                parts = urlsplit(nxt)
                path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.close()
    finally:
        sandbox.stop()
    sent = len(bodies) * per_body
    if stored != sent + per_body:
        raise RuntimeError(f"sent {sent + per_body} events, the sandbox stored {stored}")
    return {"events": sent, "seconds": elapsed, "per_second": sent / elapsed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each rate measurement")
    parser.add_argument("--threads", type=int, default=8, help="keep-alive connections for GET one profile")
    parser.add_argument("--small", type=int, default=10_000, help="profiles in the small fetchAll")
    parser.add_argument("--large", type=int, default=100_000, help="profiles in the large fetchAll")
    parser.add_argument("--events", type=int, default=50_000, help="events sent in the bulk run")
    parser.add_argument("--only", default="get,fetch,bulk", help="which measurements, comma-separated")
    args = parser.parse_args()
    only = set(args.only.split(","))
    ok = True
    print(f"sandbox throughput, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    if "get" in only:
        got = measure_get(args.seconds, args.threads)
        good = got["ratio"] >= 0.4
        ok &= good
        print(
            f"GET one profile, {args.threads} keep-alive connections: sandbox {got['sandbox']:,.0f}/s, "
            f"http.server stub {got['stub']:,.0f}/s, ratio {got['ratio']:.2f} (goal >= 0.40) "
            f"{'ok' if good else 'MISSED'}"
        )
    if "fetch" in only:
        per = measure_fetch([args.small, args.large])
        growth = per[args.large] / per[args.small]
        good = growth <= 1.5
        ok &= good
        print(
            f"fetchAll profiles: {per[args.small]:.1f} ms per 1,000 at {args.small:,}, "
            f"{per[args.large]:.1f} ms per 1,000 at {args.large:,}, growth {growth:.2f}x (goal <= 1.5x) "
            f"{'ok' if good else 'MISSED'}"
        )
    if "bulk" in only:
        for per_profile in (1, 10):
            got = measure_bulk(args.events, 4, per_profile)
            good = got["per_second"] >= 10_000
            ok &= good
            print(
                f"bulk event ingestion, {1000 // per_profile} profiles x {per_profile} event(s) a body: "
                f"{got['events']:,.0f} events in {got['seconds']:.2f} s, {got['per_second']:,.0f} events/s "
                f"(goal >= 10,000/s) {'ok' if good else 'MISSED'}"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
