"""How long a host waits to load the component through its entry point, in fresh interpreters.

Each run starts a new Python process that does what a host does:
``entry_points(group="connector.components")["klaviyo"].load()``, then reads
``component.actions`` and ``component.data_sources`` (which import and build every action
and data source model). Printed, as medians over the runs:

- the whole command's wall time (interpreter start-up included), next to a bare ``python -c pass``;
- inside the process: importing ``importlib.metadata`` (the host's cost), scanning the installed
  distributions' entry points, ``load()`` (the component's own cost); the first
  ``component.actions``; the first ``component.data_sources``.

Children compile to a private bytecode cache (``PYTHONPYCACHEPREFIX``, even when
``PYTHONDONTWRITEBYTECODE`` is set), as an installed wheel would run; ``--no-bytecode-cache``
keeps the environment as it is.

The goal is a load under 150 ms; the component object is cheap because actions load lazily.

Run: ``python benchmarks/import_time.py [--runs 10]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

GOAL_MS = 150.0

LOAD = "from importlib.metadata import entry_points; entry_points(group='connector.components')['klaviyo'].load()"

PROBE = """
import json, time
t0 = time.perf_counter()
from importlib.metadata import entry_points
t1 = time.perf_counter()
point = entry_points(group="connector.components")["klaviyo"]
t2 = time.perf_counter()
component = point.load()
t3 = time.perf_counter()
actions = component.actions
t4 = time.perf_counter()
sources = component.data_sources
t5 = time.perf_counter()
print(json.dumps({"metadata": t1 - t0, "scan": t2 - t1, "load": t3 - t2, "actions": t4 - t3,
                  "data_sources": t5 - t4, "n_actions": len(actions), "n_sources": len(sources)}))
"""


def wall(code: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:7.1f} ms  (min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="fresh interpreters per figure (default 10)")
    parser.add_argument(
        "--no-bytecode-cache", action="store_true", help="leave PYTHONDONTWRITEBYTECODE etc. as they are"
    )
    args = parser.parse_args(argv)

    env = dict(os.environ)
    if not args.no_bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "klaviyo-connector-import-time")
    wall(PROBE, env)  # compile once and warm the OS file cache, like a host that has run before
    bare = [wall("pass", env) for _ in range(args.runs)]
    command = [wall(LOAD, env) for _ in range(args.runs)]
    probes = []
    for _ in range(args.runs):
        out = subprocess.run(
            [sys.executable, "-c", PROBE], check=True, capture_output=True, text=True, env=env
        )
        probes.append(json.loads(out.stdout))

    def row(label: str, values: list[float]) -> None:
        print(f"  {label:<44} {ms(values)}")

    print(f"{args.runs} fresh interpreters each ({sys.executable})")
    row("python -c pass", bare)
    row("python -c '<entry point load>'", command)
    row("in process: import importlib.metadata", [p["metadata"] for p in probes])
    row("in process: entry_points() scan", [p["scan"] for p in probes])
    row("in process: load() (the component's cost)", [p["load"] for p in probes])
    row(f"first component.actions ({probes[0]['n_actions']} actions)", [p["actions"] for p in probes])
    row(f"first component.data_sources ({probes[0]['n_sources']})", [p["data_sources"] for p in probes])
    load_ms = statistics.median(command) * 1000
    verdict = "meets" if load_ms < GOAL_MS else "MISSES"
    print(f"entry-point load command median {load_ms:.1f} ms {verdict} the {GOAL_MS:.0f} ms goal")
    return 0 if load_ms < GOAL_MS else 1


if __name__ == "__main__":
    sys.exit(main())
