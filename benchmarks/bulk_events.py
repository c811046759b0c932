"""Client CPU per 1,000 bulk events, the connector vs the official SDK, and time to first request.

A local HTTP/1.1 stub in a separate process answers every ``POST /api/event-bulk-create-jobs``
with 202 and notes when the first request of a run arrives (``time.monotonic``, one clock for
every process on Linux). This process then sends the same rows both ways, interleaved in rounds:

- connector: ``Runner().run_action("klaviyo", "bulkCreateEvents", {"eventsArray": rows})``, all
  its checks included (every row validated, unique IDs derived, duplicates and sizes checked,
  requests of at most 1,000 events and 5 MB). Client-side pacing is off: the figure is CPU;
- sdk: the page loop an SDK user writes: 1,000 rows at a time into the request body
  (``{"data": {"type": "event-bulk-create-job", ...}}``, one profile group per row) and
  ``KlaviyoAPI(...).Events.bulk_create_events(body)`` (klaviyo-api 25.0.0).

It prints client CPU (``time.process_time``) per 1,000 events for each and their ratio, then the
seconds from a ``--first-events`` (default 50,000) connector call to its first request reaching
the stub.

Run: ``pip install -e '.[benchmark]'`` then ``python benchmarks/bulk_events.py [--events 10000]``.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import statistics
import sys
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_KEY = "pk_benchmark_0123456789abcdef"


def rows(count: int) -> list[dict[str, Any]]:
    """Orders as a store sends them: one event per row, a few properties, no unique_id."""
    return [
        {
            "metric": "Placed Order",
            "profile": {"email": f"customer{i % 5000}@klaviyo-demo.com", "first_name": "Sarah"},
            "properties": {"OrderId": f"order-{i}", "Items": ["Winnie the Pooh", "Piglet"], "ItemCount": 2},
            "time": "2026-11-30T12:00:00Z",
            "value": 29.98,
            "value_currency": "USD",
        }
        for i in range(count)
    ]


# -- the stub ---------------------------------------------------------------------------------------


def _serve(first: Any, port_out: Any, ready: Any) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = -1
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            arrived = time.monotonic()
            with first.get_lock():
                if first.value == 0.0:
                    first.value = arrived
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_out.value = server.server_address[1]
    ready.set()
    server.serve_forever()


# -- the clients ------------------------------------------------------------------------------------


def connector_client(base_url: str) -> Callable[[list[dict[str, Any]]], Any]:
    from klaviyo_connector.runner import Runner

    runner = Runner(client_options={"pacing_scale": 0})
    connection = {"key": "apiKey", "fields": {"apiKey": API_KEY, "baseUrl": base_url}}

    def send(batch: list[dict[str, Any]]) -> Any:
        return runner.run_action(
            "klaviyo", "bulkCreateEvents", connection=connection, inputs={"eventsArray": batch}
        )

    return send


def sdk_client(base_url: str) -> Callable[[list[dict[str, Any]]], Any]:
    from klaviyo_api import KlaviyoAPI

    events = KlaviyoAPI(API_KEY, test_host=base_url).Events

    def send(batch: list[dict[str, Any]]) -> Any:
        for start in range(0, len(batch), 1000):
            groups = [
                {
                    "type": "event-bulk-create",
                    "attributes": {
                        "profile": {"data": {"type": "profile", "attributes": row["profile"]}},
                        "events": {
                            "data": [
                                {
                                    "type": "event",
                                    "attributes": {
                                        "properties": row["properties"],
                                        "time": row["time"],
                                        "value": row["value"],
                                        "value_currency": row["value_currency"],
                                        "metric": {
                                            "data": {"type": "metric", "attributes": {"name": row["metric"]}}
                                        },
                                    },
                                }
                            ]
                        },
                    },
                }
                for row in batch[start : start + 1000]
            ]
            body = {
                "data": {
                    "type": "event-bulk-create-job",
                    "attributes": {"events-bulk-create": {"data": groups}},
                }
            }
            events.bulk_create_events(body)

    return send


def cpu_per_thousand(send: Callable[[list[dict[str, Any]]], Any], batch: list[dict[str, Any]]) -> float:
    gc.collect()
    began = time.process_time()
    send(batch)
    return (time.process_time() - began) / len(batch) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000, help="events per measured call")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--first-events", type=int, default=50_000)
    args = parser.parse_args()

    ctx = multiprocessing.get_context("spawn")
    first, port, ready = ctx.Value("d", 0.0), ctx.Value("i", 0), ctx.Event()
    stub = ctx.Process(target=_serve, args=(first, port, ready), daemon=True)
    stub.start()
    ready.wait(30)
    base_url = f"http://127.0.0.1:{port.value}"
    try:
        clients = {"connector": connector_client(base_url), "sdk": sdk_client(base_url)}
        batch = rows(args.events)
        for send in clients.values():  # warm up: imports, models, connections
            send(batch[:1000])
        per: dict[str, list[float]] = {name: [] for name in clients}
        for _ in range(args.rounds):
            for name, send in clients.items():
                per[name].append(cpu_per_thousand(send, batch))
        big = rows(args.first_events)
        gc.collect()
        with first.get_lock():
            first.value = 0.0
        called = time.monotonic()
        clients["connector"](big)
        to_first = first.value - called
    finally:
        stub.terminate()
        stub.join(10)
    conn_ms = statistics.median(per["connector"]) * 1000
    sdk_ms = statistics.median(per["sdk"]) * 1000
    print(f"bulk events, {args.events:,} a call, median of {args.rounds} rounds: client CPU per 1,000 events")
    print(f"  connector  {conn_ms:8.1f} ms")
    print(f"  sdk        {sdk_ms:8.1f} ms")
    print(f"  ratio      {conn_ms / sdk_ms:8.2f}x the SDK")
    print(f"connector call of {args.first_events:,} events: first request after {to_first:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
