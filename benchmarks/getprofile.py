"""Client CPU per getProfile call: the connector's Runner vs Klaviyo's official SDK vs requests.

A local HTTP/1.1 keep-alive server runs in a separate process and answers
``GET /api/profiles/{id}`` with a fixed JSON:API profile document. This process then calls it
through three clients, interleaved in rounds so drift (CPU frequency, cache, noise) hits all of
them alike, and prints client CPU time (``time.process_time``) and wall time per call:

- connector: ``Runner().run_action("klaviyo", "getProfile", ...)`` (input validation, pacing,
  the HTTP core, JSON decoding: everything a host pays per call), with Get Profile's limits
  scaled up (``pacing_scale`` 1000) so the pacing books every call but none waits: at Klaviyo's
  limits (75/s, 900/m) back-to-back calls would mostly measure sleeping;
- unpaced: the same with ``client_options={"pacing_scale": 0}`` (no pacing at all);
- sdk: ``KlaviyoAPI(key, test_host=...).Profiles.get_profile(id)`` (klaviyo-api 25.0.0, which
  also decodes into its pydantic response model);
- requests: ``requests.Session().get(url, headers=...).json()``.

Every client parses the JSON body. ``--real-limits N`` instead runs N calls of the connector at
Klaviyo's real limits, then N calls of the SDK at the same moments: a call after a pause finds
colder CPU caches, whichever client makes it. ``--threads N`` instead checks
that N threads calling one Runner with one connection all succeed over one shared keep-alive
pool, and prints throughput.

Run: ``pip install -e '.[benchmark]'`` then ``python benchmarks/getprofile.py [--calls 2000]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import statistics
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_KEY = "pk_benchmark_0123456789abcdef"
PROFILE_ID = "01GDDKASAP8TKDDA2GRZDSVP4H"
REVISION = "2026-10-15"


def profile_document(base_url: str) -> dict[str, Any]:
    """A realistic GET /api/profiles/{id} response (about 2 KB), shaped like Klaviyo's."""
    self_url = f"{base_url}/api/profiles/{PROFILE_ID}/"

    def relationship(name: str) -> dict[str, Any]:
        return {
            "links": {
                "self": f"{self_url}relationships/{name}/",
                "related": f"{self_url}{name}/",
            }
        }

    return {
        "data": {
            "type": "profile",
            "id": PROFILE_ID,
            "attributes": {
                "email": "sarah.mason@klaviyo-demo.com",
                "phone_number": "+15005550006",
                "external_id": "63f64a2b-c6bf-40c7-b81f-bed08162edbe",
                "first_name": "Sarah",
                "last_name": "Mason",
                "organization": "Example Corporation",
                "locale": "en-US",
                "title": "Regional Manager",
                "image": "https://images.pexels.com/photos/3760854/pexels-photo-3760854.jpeg",
                "created": "2022-11-08T00:00:00+00:00",
                "updated": "2022-11-08T00:00:00+00:00",
                "last_event_date": "2022-11-08T00:00:00+00:00",
                "location": {
                    "address1": "89 E 42nd St",
                    "address2": "1st floor",
                    "city": "New York",
                    "country": "United States",
                    "latitude": "40.7128",
                    "longitude": "74.0060",
                    "region": "NY",
                    "zip": "10017",
                    "timezone": "America/New_York",
                    "ip": "127.0.0.1",
                },
                "properties": {
                    "pseudonym": "Dr. Octopus",
                    "loyalty_tier": "gold",
                    "lifetime_orders": 17,
                    "favourite_categories": ["outdoor", "kitchen", "books"],
                    "last_order": {"id": "ORD-1029384", "total": 129.95, "currency": "USD"},
                    "accepts_marketing": True,
                    "signup_source": "checkout",
                    "preferred_store": "Manhattan 5th Ave",
                    "birthday": "1988-04-12",
                },
            },
            "relationships": {
                "lists": relationship("lists"),
                "segments": relationship("segments"),
                "push-tokens": relationship("push-tokens"),
                "conversation": relationship("conversation"),
            },
            "links": {"self": self_url},
        },
        "links": {"self": self_url},
    }


# -- the server (its own process) -----------------------------------------------------------------


def serve(port_out: Any, connections: Any, ready: Any) -> None:
    """Serve the profile document over HTTP/1.1 keep-alive until killed."""
    body_holder: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive
        disable_nagle_algorithm = True

        def setup(self) -> None:
            super().setup()
            with connections.get_lock():
                connections.value += 1

        def do_GET(self) -> None:  # noqa: N802
            if not self.path.split("?", 1)[0].rstrip("/").startswith("/api/profiles/"):
                self._reply(404, b'{"errors":[{"status":404,"code":"not_found","detail":"Not found."}]}')
            elif not (self.headers.get("Authorization") or "").startswith("Klaviyo-API-Key pk_"):
                self._reply(401, b'{"errors":[{"status":401,"code":"not_authenticated","detail":"No key."}]}')
            else:
                self._reply(200, body_holder[0])

        def _reply(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/vnd.api+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    body_holder.append(json.dumps(profile_document(f"http://127.0.0.1:{port}")).encode())
    port_out.value = port
    ready.set()
    server.serve_forever()


# -- the clients ------------------------------------------------------------------------------------


def connector_client(base_url: str, pacing_scale: float = 1.0) -> tuple[Callable[[], Any], Any]:
    from klaviyo_connector.runner import Runner

    runner = Runner(client_options={"pacing_scale": pacing_scale})
    connection = {"key": "apiKey", "fields": {"apiKey": API_KEY, "baseUrl": base_url}}
    inputs = {"profileId": PROFILE_ID}

    def call() -> Any:
        return runner.run_action("klaviyo", "getProfile", connection=connection, inputs=inputs)["data"]

    return call, runner


def booked_client(base_url: str) -> tuple[Callable[[], Any], Any]:
    """The connector with pacing on and Get Profile's limits scaled up: every call is booked in
    its bucket, none waits (see the module docstring)."""
    return connector_client(base_url, pacing_scale=1000)


def unpaced_client(base_url: str) -> tuple[Callable[[], Any], Any]:
    """The connector with client-side pacing off."""
    return connector_client(base_url, pacing_scale=0)


def sdk_client(base_url: str) -> tuple[Callable[[], Any], Any]:
    from klaviyo_api import KlaviyoAPI

    # Defaults (max_retries=3): its retry wrapper only acts on an ApiException, never on a 200.
    sdk = KlaviyoAPI(API_KEY, test_host=base_url)
    profiles = sdk.Profiles  # the property builds and wraps a new API object per access; hoist it

    def call() -> Any:
        return profiles.get_profile(PROFILE_ID)

    return call, sdk


def requests_client(base_url: str) -> tuple[Callable[[], Any], Any]:
    import requests

    session = requests.Session()
    url = f"{base_url}/api/profiles/{PROFILE_ID}"
    headers = {
        "Authorization": f"Klaviyo-API-Key {API_KEY}",
        "Accept": "application/vnd.api+json",
        "revision": REVISION,
    }

    def call() -> Any:
        resp = session.get(url, headers=headers, timeout=(10, 60))
        resp.raise_for_status()
        return resp.json()

    return call, session


def profile_id_of(result: Any) -> str:
    if isinstance(result, dict):
        return result["data"]["id"]
    return result.data.id  # the SDK's pydantic model


# -- measuring --------------------------------------------------------------------------------------


def batch(call: Callable[[], Any], n: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) for n calls."""
    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(n):
        call()
    return time.process_time() - cpu0, time.perf_counter() - wall0


def run_interleaved(clients: dict[str, Callable[[], Any]], calls: int, rounds: int, connections: Any) -> None:
    per_round = max(1, calls // rounds)
    cpu: dict[str, list[float]] = {name: [] for name in clients}
    wall: dict[str, list[float]] = {name: [] for name in clients}
    opened: dict[str, int] = dict.fromkeys(clients, 0)
    names = list(clients)
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]  # rotate who goes first
        for name in order:
            before = connections.value
            c, w = batch(clients[name], per_round)
            opened[name] += connections.value - before
            cpu[name].append(c / per_round)
            wall[name].append(w / per_round)

    total = per_round * rounds
    print(f"\ngetProfile, {total} calls per client in {rounds} interleaved rounds of {per_round}")
    print(f"{'client':<11} {'CPU us/call':>12} {'(median rnd)':>13} {'wall us/call':>13} {'new conns':>10}")
    mean_cpu = {n: sum(v) / len(v) * 1e6 for n, v in cpu.items()}
    for name in names:
        print(
            f"{name:<11} {mean_cpu[name]:>12.1f} {statistics.median(cpu[name]) * 1e6:>13.1f} "
            f"{sum(wall[name]) / len(wall[name]) * 1e6:>13.1f} {opened[name]:>10}"
        )
    median_cpu = {n: statistics.median(v) * 1e6 for n, v in cpu.items()}
    print("\nCPU ratios      mean  median round")
    for a, b in (("connector", "sdk"), ("unpaced", "sdk"), ("connector", "requests"), ("sdk", "requests")):
        if a in mean_cpu and b in mean_cpu:
            print(f"  {a + '/' + b:<19} {mean_cpu[a] / mean_cpu[b]:.2f}  {median_cpu[a] / median_cpu[b]:.2f}")


def run_real_limits(base_url: str, calls: int, connections: Any) -> int:
    """CPU per call of the connector at Get Profile's real limits, and of the SDK making its
    calls at the very moments the connector made its own (pacing lets a burst through back to
    back, then waits: the same schedule for both, so pauses cost both alike)."""
    connector, _ = connector_client(base_url)
    sdk, _ = sdk_client(base_url)
    connector()
    sdk()
    gc.collect()
    opened = connections.value
    moments: list[float] = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(calls):
        moments.append(time.perf_counter() - wall0)
        connector()
    connector_cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    connector_opened, opened = connections.value - opened, connections.value
    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for at in moments:
        delay = at - (time.perf_counter() - wall0)
        if delay > 0:
            time.sleep(delay)
        sdk()
    sdk_cpu = time.process_time() - cpu0
    sdk_opened = connections.value - opened
    pauses = sum(1 for a, b in zip(moments, moments[1:], strict=False) if b - a > 0.01)
    print(
        f"\ngetProfile at Klaviyo's limits: {calls} calls each in {wall:.1f} s ({pauses} pauses over 10 ms)"
    )
    print(
        f"  connector (paced)        {connector_cpu / calls * 1e6:8.1f} us CPU/call, {connector_opened} new connections"
    )
    print(
        f"  sdk (same moments)       {sdk_cpu / calls * 1e6:8.1f} us CPU/call, {sdk_opened} new connections"
    )
    print(f"  connector/sdk            {connector_cpu / sdk_cpu:.2f}")
    return 0


def run_threads(base_url: str, threads: int, calls: int, connections: Any) -> int:
    call, runner = booked_client(base_url)  # at Klaviyo's limits this would measure the pacing
    for _ in range(50):  # warm up: connection, action tables, pydantic
        call()
    per_thread = max(1, calls // threads)
    failures: list[str] = []
    ok = [0] * threads
    start = threading.Barrier(threads + 1)

    def worker(i: int) -> None:
        start.wait()
        for _ in range(per_thread):
            try:
                if profile_id_of(call()) != PROFILE_ID:
                    failures.append("wrong profile id")
                else:
                    ok[i] += 1
            except Exception as exc:  # counted and reported, never hidden
                failures.append(f"{type(exc).__name__}: {exc}")

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in workers:
        t.start()
    before = connections.value
    cpu0, wall0 = time.process_time(), time.perf_counter()
    start.wait()
    for t in workers:
        t.join()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    total = per_thread * threads
    clients = len(runner._clients)
    print(f"\n{threads} threads x {per_thread} getProfile calls through one Runner and one connection")
    print(f"  succeeded: {sum(ok)}/{total}; failures: {len(failures)}")
    for text in sorted(set(failures))[:5]:
        print(f"    {text}")
    print(f"  throughput: {total / wall:,.0f} calls/s; CPU {cpu / total * 1e6:.1f} us/call")
    print(f"  HTTP clients in the Runner: {clients}; new TCP connections: {connections.value - before}")
    runner.close()
    return 0 if not failures and sum(ok) == total and clients == 1 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=4000, help="calls per client (default 4000)")
    parser.add_argument("--rounds", type=int, default=20, help="interleaved rounds (default 20)")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up calls per client")
    parser.add_argument("--threads", type=int, default=0, help="check N threads on one Runner instead")
    parser.add_argument(
        "--real-limits",
        type=int,
        default=0,
        metavar="N",
        help="compare N calls at Klaviyo's real limits instead",
    )
    parser.add_argument(
        "--only", default="connector,unpaced,sdk,requests", help="comma-separated clients to compare"
    )
    args = parser.parse_args(argv)

    ctx = multiprocessing.get_context("spawn")
    port, connections, ready = ctx.Value("i", 0), ctx.Value("i", 0), ctx.Event()
    server = ctx.Process(target=serve, args=(port, connections, ready), daemon=True)
    server.start()
    try:
        if not ready.wait(30):
            print("the benchmark server did not start", file=sys.stderr)
            return 2
        base_url = f"http://127.0.0.1:{port.value}"
        if args.threads:
            return run_threads(base_url, args.threads, args.calls, connections)
        if args.real_limits:
            return run_real_limits(base_url, args.real_limits, connections)

        factories = {
            "connector": booked_client,
            "unpaced": unpaced_client,
            "sdk": sdk_client,
            "requests": requests_client,
        }
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        clients: dict[str, Callable[[], Any]] = {}
        for name in wanted:
            call, _ = factories[name](base_url)
            got = profile_id_of(call())
            if got != PROFILE_ID:
                raise SystemExit(f"{name} returned profile {got!r}")
            for _ in range(args.warmup):
                call()
            clients[name] = call
        run_interleaved(clients, args.calls, args.rounds, connections)
        return 0
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    sys.exit(main())
