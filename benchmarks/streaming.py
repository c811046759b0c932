"""Peak memory of fetching every profile: the connector's Python API and CLI vs the SDK's page loop.

Seeds ``--profiles`` profiles (default 100,000) straight into a sandbox state file (as
sandbox_throughput.py does), serves it in a child process, then pages through all of them, 100
a page, in a fresh process per client so each one's peak RSS (``ru_maxrss`` from ``os.wait4``)
is its own:

- python stream: ``Runner().stream_action("klaviyo", "listProfile", fetchAll)``, counting records;
- python collect: ``Runner().run_action(...)`` of the same inputs, the whole document in memory
  (what fetchAll cost before streaming);
- cli ndjson / cli json: ``klaviyo-connector run listProfile --output ndjson|json`` to /dev/null;
- sdk: ``KlaviyoAPI(...).Profiles.get_profiles(page_size=100, page_cursor=next)`` in a loop,
  counting records (klaviyo-api 25.0.0; ``pip install -e '.[benchmark]'``).

The Python runs turn client-side pacing off (the SDK has none); the CLI has no switch for it, so
its runs are paced to Klaviyo's limits for Get Profiles (700 a minute) and take minutes: they
run alongside the others, and their wall time is pacing, not work. Peak memory is the figure.

Run: ``python benchmarks/streaming.py [--profiles 100000]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sandbox_throughput import API_KEY, Server, _serve_sandbox, seed_profiles  # noqa: E402

INPUTS = {"fetchAll": True, "pageSize": 100}


# -- the measured clients, each in its own process ----------------------------------------------


def _python(url: str, total: int, collect: bool) -> dict[str, Any]:
    from klaviyo_connector import Runner

    runner = Runner(client_options={"pacing_scale": 0})
    connection = {"key": "apiKey", "fields": {"apiKey": API_KEY, "baseUrl": url}}
    inputs = {**INPUTS, "maxRecords": total}
    if collect:
        doc = runner.run_action("klaviyo", "listProfile", connection=connection, inputs=inputs)["data"]
        return {"records": len(doc["data"])}
    records = 0
    for _record in runner.stream_action("klaviyo", "listProfile", connection=connection, inputs=inputs):
        records += 1
    return {"records": records}


def _sdk(url: str) -> dict[str, Any]:
    from klaviyo_api import KlaviyoAPI
    from klaviyo_connector.revision import REVISION

    sdk = KlaviyoAPI(API_KEY, test_host=url)
    # The SDK sends its own revision (2026-10-15), newer than the spec the sandbox answers.
    sdk.api_client.default_headers["revision"] = REVISION
    profiles = sdk.Profiles
    records = 0
    cursor: str | None = None
    while True:
        page = profiles.get_profiles(page_size=100, page_cursor=cursor)
        page = page if isinstance(page, dict) else page.to_dict()
        records += len(page["data"])
        nxt = (page.get("links") or {}).get("next")
        if not nxt:
            return {"records": records}
        cursor = parse_qs(urlsplit(nxt).query)["page[cursor]"][0]


def child(kind: str, url: str, total: int) -> None:
    began = time.perf_counter()
    result = _sdk(url) if kind == "sdk" else _python(url, total, collect=kind == "python collect")
    result["seconds"] = time.perf_counter() - began
    print(json.dumps(result))


# -- the parent ---------------------------------------------------------------------------------


def start(argv: list[str], stdout: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen[bytes], began: float) -> dict[str, Any]:
    """Wait for ``proc`` and read its own peak RSS (Linux: ru_maxrss in KiB)."""
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{proc.args} failed ({proc.returncode}): {err[-2000:]}")
    out = proc.stdout.read().decode() if proc.stdout else ""
    result = json.loads(out) if out.strip() else {}
    result.setdefault("seconds", time.perf_counter() - began)
    result["peak_mb"] = usage.ru_maxrss / 1024
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "URL"), help=argparse.SUPPRESS)
    parser.add_argument("--skip-cli", action="store_true", help="leave out the paced CLI runs")
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.profiles)
        return 0

    state = os.path.join(tempfile.mkdtemp(prefix="bench-streaming-"), "state.sqlite3")
    t0 = time.perf_counter()
    # Seeded in a process of its own: a child's peak RSS starts from this process's RSS when it
    # forks (Linux keeps the high-water mark across exec), so this process stays small.
    seeder = multiprocessing.get_context("spawn").Process(target=seed_profiles, args=(state, args.profiles))
    seeder.start()
    seeder.join()
    print(f"seeded {args.profiles:,} profiles in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    server = Server(_serve_sandbox, state)
    results: dict[str, dict[str, Any]] = {}
    try:
        devnull = open(os.devnull, "wb")  # noqa: SIM115 - the CLI children write into it
        cli: dict[str, tuple[subprocess.Popen[bytes], float]] = {}
        if not args.skip_cli:
            for output in ("ndjson", "json"):
                argv = [
                    *(sys.executable, "-m", "klaviyo_connector.cli", "run", "listProfile"),
                    *("--api-key", API_KEY, "--base-url", server.url, "--output", output),
                    *("--inputs", json.dumps({**INPUTS, "maxRecords": args.profiles})),
                ]
                cli[f"cli {output}"] = (start(argv, devnull), time.perf_counter())
        for kind in ("python stream", "python collect", "sdk"):
            began = time.perf_counter()
            me = [sys.executable, os.path.abspath(__file__), "--profiles", str(args.profiles)]
            proc = start([*me, "--child", kind, server.url], subprocess.PIPE)
            results[kind] = finish(proc, began)
            print(f"{kind}: {results[kind]}", file=sys.stderr)
        for kind, (proc, began) in cli.items():
            results[kind] = finish(proc, began)
            results[kind]["records"] = args.profiles
    finally:
        server.stop()
    sdk_mb = results["sdk"]["peak_mb"]
    print(f"fetchAll of {args.profiles:,} sandbox profiles, 100 a page; peak RSS of each process")
    print(f"{'client':<16}{'peak MB':>9}{'x SDK':>8}{'seconds':>9}{'records':>9}")
    for kind, r in results.items():
        print(
            f"{kind:<16}{r['peak_mb']:>9.0f}{r['peak_mb'] / sdk_mb:>8.2f}"
            f"{r['seconds']:>9.1f}{r['records']:>9,}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
