"""Acceptance measurement: selectList over 1,000 lists with the sandbox's rate limits on.

Seeds N lists (default 1,000) through ``POST /api/lists`` on a sandbox with limits off, then
serves the same state with Klaviyo's limits (get_lists: 75/s burst, 750/m steady) and runs
selectList through the Runner, exactly as a host would, with real sleeps. Prints the options
returned, whether they are complete and sorted, the HTTP requests made (429s included), the
minimum the page size allows, and the seconds taken. Loopback only; stops by itself.

    python benchmarks/picklist_lists.py [--lists 1000] [--rate-limit-scale 1.0]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections import Counter
from typing import Any

import requests
from klaviyo_connector import Runner, catalog
from klaviyo_connector.revision import REVISION
from klaviyo_connector.sandbox import Sandbox, SandboxOptions

API_KEY = "pk_benchmark_picklist_lists_0001"


def seed(state_path: str, count: int) -> set[str]:
    """Create ``count`` lists (names in scrambled order) with rate limits off; their ids."""
    box = Sandbox(SandboxOptions(state_path=state_path, rate_limit_scale=0))
    base = box.start()
    headers = {
        "Authorization": f"Klaviyo-API-Key {API_KEY}",
        "revision": REVISION,
        "Content-Type": "application/vnd.api+json",
        "Accept": "application/vnd.api+json",
    }
    made: set[str] = set()
    try:
        with requests.Session() as session:
            for i in range(count):
                name = f"List {(i * 7919) % count:04d}"  # not in creation order, so sorting shows
                body = {"data": {"type": "list", "attributes": {"name": name}}}
                r = session.post(f"{base}/api/lists", json=body, headers=headers, timeout=10)
                r.raise_for_status()
                made.add(r.json()["data"]["id"])
    finally:
        box.stop()
    return made


class CountingApp:
    """WSGI middleware: counts the responses the sandbox gives, by status."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.statuses: Counter[int] = Counter()

    def __call__(self, environ: Any, start_response: Any) -> Any:
        def counted(status: str, headers: Any, exc_info: Any = None) -> Any:
            self.statuses.update([int(status.split()[0])])
            return start_response(status, headers, exc_info)

        return self.app(environ, counted)


class CountingSandbox(Sandbox):
    """The sandbox, served through :class:`CountingApp`."""

    @property
    def app(self) -> Any:
        if getattr(self, "_counting", None) is None:
            self._counting = CountingApp(super().app)
        return self._counting


def measure(state_path: str, scale: float) -> dict[str, Any]:
    """Run selectList once against the seeded state with rate limits at ``scale``."""
    box = CountingSandbox(SandboxOptions(state_path=state_path, rate_limit_scale=scale))
    base = box.start()
    runner = Runner()
    connection = {"key": "apiKey", "fields": {"apiKey": API_KEY, "baseUrl": base}}
    try:
        started = time.perf_counter()
        result = runner.run_data_source("klaviyo", "selectList", connection=connection, inputs={})["result"]
        seconds = time.perf_counter() - started
    finally:
        runner.close()
        box.stop()
    return {"result": result, "seconds": seconds, "statuses": box.app.statuses}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lists", type=int, default=1000)
    parser.add_argument("--rate-limit-scale", type=float, default=1.0, help="1.0 = Klaviyo's limits")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="picklist-bench-") as tmp:
        state = os.path.join(tmp, "sandbox.sqlite3")
        made = seed(state, args.lists)
        run = measure(state, args.rate_limit_scale)

    result = run["result"]
    labels = [o["label"] for o in result]
    page = catalog.operation("get_lists").page_size_max or 1
    limits = catalog.operation("get_lists").rate_limit
    report = {
        "lists_seeded": len(made),
        "options_returned": len(result),
        "complete": {o["key"] for o in result} == made,
        "sorted": labels == sorted(labels, key=lambda s: (s.casefold(), s)),
        "requests_made": sum(run["statuses"].values()),
        "responses_by_status": dict(sorted(run["statuses"].items())),
        "minimum_requests": math.ceil(len(made) / page),
        "page_size": page,
        "rate_limit": f"{limits.burst}/s burst, {limits.steady}/m steady x {args.rate_limit_scale}"
        if limits
        else None,
        "seconds": round(run["seconds"], 2),
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0 if report["complete"] and report["sorted"] else 1


if __name__ == "__main__":
    sys.exit(main())
