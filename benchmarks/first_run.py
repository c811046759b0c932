"""How long the first ``run_action`` takes in a fresh process, after loading the component.

A host process that runs one action pays: loading the component through its entry point, then the
first ``Runner().run_action(...)``: finding the action, importing what it needs, building its input
model, validating, one HTTP call. Each run starts a new Python process that does exactly that
against a local HTTP server (stdlib ``http.server`` in its own process, answering a fixed JSON:API
document), for a curated action (``getProfile``) and a generated one (``getCatalogItems``).

``--old-lookup`` first reads ``component.actions`` (every curated module imported, every curated
input model built), which is what the first ``run_action`` did before actions loaded one module at
a time: the "before" figure.

Printed, as medians over the runs (min, max): the entry-point load, the first run_action, and which
action modules the process imported. The goal: load < 150 ms and the first run within 150 ms of it.

Run: ``python benchmarks/first_run.py [--runs 10] [--old-lookup]``.
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
ACTIONS = {
    "getProfile": {"profileId": "01J18FVB5H8XR1X9AXEQFVRW7A"},
    "getCatalogItems": {"pageSize": 5},
}

SERVER = """
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        path = self.path.split("?")[0]
        if path.count("/") == 3:  # /api/<resource>/<id>: one resource
            doc = {"data": {"type": "profile", "id": path.rsplit("/", 1)[-1], "attributes": {}}}
        else:
            doc = {"data": [], "links": {"self": "http://127.0.0.1" + path}}
        body = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.api+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""

PROBE = """
import json, sys, time
key, inputs, base_url, old = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
t0 = time.perf_counter()
from importlib.metadata import entry_points
component = entry_points(group="connector.components")["klaviyo"].load()
t1 = time.perf_counter()
from klaviyo_connector import Runner
if old:
    component.actions  # every curated module, as the old lookup did
runner = Runner({"klaviyo": component})
connection = {"key": "apiKey", "fields": {"apiKey": "pk_benchmark_0000000000000000000000", "baseUrl": base_url}}
runner.run_action("klaviyo", key, connection=connection, inputs=inputs)
t2 = time.perf_counter()
modules = sorted(m.rsplit(".", 1)[-1] for m in sys.modules if m.startswith("klaviyo_connector.actions."))
print(json.dumps({"load": t1 - t0, "first_run": t2 - t1, "modules": modules}))
"""


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:7.1f} ms  (min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="fresh processes per action (default 10)")
    parser.add_argument(
        "--old-lookup", action="store_true", help="import every curated module first (the before figure)"
    )
    args = parser.parse_args(argv)
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # compiled once, as an installed wheel runs
    env["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "klaviyo-connector-first-run")
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        base_url = f"http://127.0.0.1:{server.stdout.readline().strip()}"
        failed = False
        print(
            f"{args.runs} fresh processes per action ({sys.executable}){' with the old lookup' if args.old_lookup else ''}"
        )
        for key, inputs in ACTIONS.items():
            command = [
                sys.executable,
                "-c",
                PROBE,
                key,
                json.dumps(inputs),
                base_url,
                "1" if args.old_lookup else "0",
            ]
            subprocess.run(command, check=True, capture_output=True, env=env)  # compile and warm the caches
            runs = []
            for _ in range(args.runs):
                out = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
                runs.append(json.loads(out.stdout))
                time.sleep(0.05)  # let the machine settle between processes
            load = [r["load"] for r in runs]
            first = [r["first_run"] for r in runs]
            print(f"  {key}")
            print(f"    entry-point load            {ms(load)}")
            print(f"    first run_action            {ms(first)}")
            print(f"    action modules imported     {', '.join(runs[0]['modules'])}")
            failed |= statistics.median(load) * 1000 >= GOAL_MS or statistics.median(first) * 1000 >= GOAL_MS
        print(
            ("MISSES" if failed else "meets") + f" the goal: load and first run each under {GOAL_MS:.0f} ms"
        )
        return 1 if failed else 0
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    sys.exit(main())
