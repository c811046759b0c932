"""Client-side pacing at Klaviyo's real limits: bulk events against the sandbox, no 429, at the ceiling.

Bulk Create Events (``bulk_create_events``) allows 10 requests a second and 150 a minute (the
catalog's burst and steady limits), each of at most 1,000 events: a steady ceiling of 2,500
events/s. The sandbox enforces those limits (``rate_limit_scale=1``) with its own clock, in its
own process; the connector paces itself (on by default) and retries any 429 after Retry-After.

1. **single**: one process runs the Bulk Create Events action with ``--events`` events (100,000:
   100 requests). Printed: events/s over the whole call and over the sending phase (first answer
   to last), the 429s drawn (goal 0) and the share of the steady ceiling (goal >= 95%). 100
   requests fit one minute's steady budget, so the burst limit (10/s, 1.2 s paced) bounds this run.
2. **shared**: ``--workers`` processes (4) each run the action with ``--events-per-worker``
   events (100,000) for the same account at once, pacing through one ``redis-server`` (started
   here on a loopback port). 400 requests are more than two minutes' steady budget, so the steady
   limit binds. Printed: combined events/s over the sending phase, 429s (goal 0), requests per
   aligned minute (at most 150), and the steady share: 60 s over the median time 150
   consecutive requests took (goal >= 95%; a client pacing perfectly with its 0.2 s window
   margin gets 60/60.2 = 99.7%).

Loopback only; stops by itself. Exit status 1 when a goal is missed.

    python benchmarks/pacing.py [--only single,shared] [--events 100000] [--workers 4]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

API_KEY = "pk_benchmark_pacing_0123456789"
PROFILES = 100  # events per request are spread over this many profiles (10 each)


def _serve_sandbox(state_path: str, ready: Any) -> None:
    from klaviyo_connector.sandbox import Sandbox, SandboxOptions

    box = Sandbox(SandboxOptions(state_path=state_path, rate_limit_scale=1))
    box.serve_forever("127.0.0.1", 0, ready=ready.put)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_redis(workdir: str) -> tuple[subprocess.Popen[str], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (apt-get install redis-server)")
    port = _free_port()
    server = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert server.stdout is not None
    for line in server.stdout:
        if "Ready to accept connections" in line:
            return server, f"redis://127.0.0.1:{port}/0"
    sys.exit("redis-server did not start")


def _events(count: int, tag: str) -> list[dict[str, Any]]:
    return [
        {
            "metric": "Pacing Benchmark",
            "profile": {"email": f"p{i % PROFILES}@pacing.example"},
            "properties": {"worker": tag, "n": i},
            "time": "2026-07-15T00:00:00Z",
            "value": 1.5,
        }
        for i in range(count)
    ]


def _push(base_url: str, count: int, tag: str, redis_url: str | None, out: Any) -> None:
    """Run Bulk Create Events for ``count`` events; put the timings on ``out``."""
    from klaviyo_connector import Runner

    throttled: list[float] = []
    paced: list[float] = []

    def heard(wait: Any) -> None:
        if wait.error is None:
            paced.append(wait.seconds)
        elif wait.error.status == 429:
            throttled.append(wait.seconds)

    answered: list[float] = []
    events = _events(count, tag)
    runner = Runner(client_options={"on_wait": heard}, pacing_redis_url=redis_url)
    connection = {"key": "apiKey", "fields": {"apiKey": API_KEY, "baseUrl": base_url}}
    started = time.time()
    result = runner.run_action(
        "klaviyo",
        "bulkCreateEvents",
        connection=connection,
        inputs={"eventsArray": events},
        progress=lambda event, info: answered.append(time.time()) if event == "rows" else None,
        timeout=3600,
    )
    ended = time.time()
    runner.close()
    out.put(
        {
            "tag": tag,
            "events": result["data"]["meta"]["events"] if "meta" in result["data"] else count,
            "started": started,
            "ended": ended,
            "answered": answered,
            "throttled": throttled,
            "paced": paced,
        }
    )


def _ceiling() -> tuple[Any, int, float]:
    from klaviyo_connector.actions.events import MAX_BULK_EVENTS
    from klaviyo_connector.catalog import operation

    tier = operation("bulk_create_events").rate_limit
    assert tier is not None
    return tier, MAX_BULK_EVENTS, tier.steady * MAX_BULK_EVENTS / 60


def _report(name: str, runs: list[dict[str, Any]], events: int) -> bool:
    tier, per_request, ceiling = _ceiling()
    answered = sorted(t for run in runs for t in run["answered"])
    throttled = sum(len(run["throttled"]) for run in runs)
    paced = [w for run in runs for w in run["paced"]]
    started = min(run["started"] for run in runs)
    ended = max(run["ended"] for run in runs)
    sending = answered[-1] - answered[0]
    # The first answer marks the start of sending: its request carried one request's events.
    send_rate = (len(answered) - 1) * per_request / sending if sending > 0 else float("inf")
    whole_rate = events / (ended - started)
    print(
        f"\n== {name}: {events:,} events in {len(answered)} requests; {tier.describe()} x {per_request:,} events"
    )
    print(
        f"   whole call(s)       {ended - started:7.1f} s  {whole_rate:8,.0f} events/s (input checks included)"
    )
    print(f"   sending phase       {sending:7.1f} s  {send_rate:8,.0f} events/s (first answer to last)")
    print(f"   first answer after  {answered[0] - started:7.1f} s of the call")
    print(f"   429s drawn          {throttled:7d}    (goal 0)")
    print(f"   pacing waits        {len(paced):7d}    {sum(paced):.1f} s in all")
    share = send_rate / ceiling
    print(f"   steady ceiling      {ceiling:8,.0f} events/s; reached {share:.1%} of it (goal >= 95%)")
    ok = throttled == 0 and share >= 0.95
    if len(answered) > tier.steady:
        minutes: dict[int, int] = {}
        for t in answered:
            minutes[int(t // 60)] = minutes.get(int(t // 60), 0) + 1
        counts = [minutes[m] for m in sorted(minutes)]
        gaps = [answered[i] - answered[i - tier.steady] for i in range(tier.steady, len(answered))]
        windowed = 60 / statistics.median(gaps)
        print(f"   answers per aligned minute {counts} (Klaviyo allows {tier.steady})")
        print(
            f"   {tier.steady} consecutive requests took {statistics.median(gaps):.2f} s (median): "
            f"{windowed:.1%} of the steady ceiling while it binds (goal >= 95%)"
        )
        ok = ok and windowed >= 0.95 and max(counts) <= tier.steady
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default="single,shared", help="single, shared or both (comma-separated)")
    parser.add_argument("--events", type=int, default=100_000, help="events in the single run")
    parser.add_argument("--workers", type=int, default=4, help="processes in the shared run")
    parser.add_argument("--events-per-worker", type=int, default=100_000)
    args = parser.parse_args()
    only = set(args.only.split(","))
    ctx = multiprocessing.get_context("spawn")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        ready = ctx.Queue()
        sandbox = ctx.Process(
            target=_serve_sandbox, args=(os.path.join(tmp, "s.sqlite3"), ready), daemon=True
        )
        sandbox.start()
        base_url = ready.get(timeout=60)
        redis_server = None
        try:
            if "single" in only:
                out = ctx.Queue()
                _push(base_url, args.events, "single", None, out)
                ok = _report("single process, local pacing", [out.get()], args.events) and ok
                if "shared" in only:  # let the single run's minute pass: the shared run starts afresh
                    time.sleep(61)
            if "shared" in only:
                redis_server, redis_url = _start_redis(tmp)
                out = ctx.Queue()
                workers = [
                    ctx.Process(
                        target=_push, args=(base_url, args.events_per_worker, f"w{n}", redis_url, out)
                    )
                    for n in range(args.workers)
                ]
                for worker in workers:
                    worker.start()
                runs = [out.get(timeout=3600) for _ in workers]
                for worker in workers:
                    worker.join(timeout=60)
                total = args.workers * args.events_per_worker
                ok = _report(f"{args.workers} processes, pacing shared through Redis", runs, total) and ok
        finally:
            if redis_server is not None:
                redis_server.terminate()
                redis_server.wait(timeout=10)
            sandbox.terminate()
            sandbox.join(timeout=10)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
