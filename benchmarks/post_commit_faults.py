"""Duplicates a retrying host makes when writes fail after they commit.

The sandbox (in process, on loopback) fails a fraction of successful writes after their change
is saved (``fail_after_commit_rate``): the client gets a 503, or the connection drops, although
the write happened. A host creates lists, templates, campaigns and segments through the Runner
and retries each failed create, by one of two policies, side by side on fresh accounts:

- ``follows-class``: retries only errors of class ``retryable`` (what the README tells hosts);
- ``retries-any-failure``: retries ``retryable`` and ``outcome_unknown`` alike (what a host
  reading only "temporary problem" would do, and what every host did before the class existed).

Printed per policy and fault mode: creates asked for, duplicates (resources beyond one per
name), creates that ended in an error, and how the connector settled them.

    python benchmarks/post_commit_faults.py [--rate 0.1] [--lists 200] [--templates 200] ...
"""

from __future__ import annotations

import argparse
import collections
import secrets
import sys
import time
from typing import Any

from klaviyo_connector import KlaviyoError, Runner
from klaviyo_connector.sandbox import Sandbox, SandboxOptions

HTML = "<html><body><p>Hello {{ first_name }}</p></body></html>"
MESSAGE = {"channel": "email", "label": "Hi", "content": {"subject": "Hi", "from_email": "s@example.com"}}


def creates(audience: str, counts: dict[str, int]) -> list[tuple[str, str, dict[str, Any]]]:
    """(action, name, inputs) for every create the host asks for."""
    group = [
        {"conditions": [{"type": "profile-group-membership", "is_member": True, "group_ids": [audience]}]}
    ]
    out: list[tuple[str, str, dict[str, Any]]] = []
    for i in range(counts["lists"]):
        out.append(("createList", f"L{i}", {"listName": f"L{i}"}))
    for i in range(counts["templates"]):
        out.append(("createTemplate", f"T{i}", {"templateName": f"T{i}", "templateHtml": HTML}))
    for i in range(counts["campaigns"]):
        name = f"C{i}"
        out.append(
            (
                "createCampaign",
                name,
                {"campaignName": name, "includedAudiences": [audience], "campaignMessages": [MESSAGE]},
            )
        )
    for i in range(counts["segments"]):
        out.append(("createSegment", f"S{i}", {"segmentName": f"S{i}", "conditionGroups": group}))
    return out


def names(runner: Runner, conn: dict[str, Any]) -> collections.Counter[str]:
    seen: collections.Counter[str] = collections.Counter()
    for action, extra in (
        ("listLists", {}),
        ("listTemplates", {}),
        ("listSegments", {}),
        ("listCampaigns", {"channel": "email"}),
    ):
        doc = runner.run_action("klaviyo", action, connection=conn, inputs={"fetchAll": True, **extra})[
            "data"
        ]
        seen.update(r["attributes"]["name"] for r in doc["data"])
    return seen


def run(policy: str, mode: str, rate: float, counts: dict[str, int], seed: int) -> dict[str, Any]:
    options = SandboxOptions(
        rate_limit_scale=0, fail_after_commit_rate=0.0, fail_after_commit_mode=mode, seed=seed
    )
    with Sandbox(options) as sandbox:
        conn = {
            "key": "apiKey",
            "fields": {"apiKey": "pk_" + secrets.token_hex(16), "baseUrl": sandbox.base_url},
        }
        runner = Runner(client_options={"sleep": lambda _s: None})
        audience = runner.run_action(
            "klaviyo", "createList", connection=conn, inputs={"listName": "Audience"}
        )["data"]["data"]["id"]
        sandbox.options.fail_after_commit_rate = rate  # faults only for the measured creates
        classes: collections.Counter[str] = collections.Counter()
        recovered = failed = 0
        plan = creates(audience, counts)
        for action, _name, inputs in plan:
            for _attempt in range(6):
                try:
                    out = runner.run_action("klaviyo", action, connection=conn, inputs=inputs)["data"]
                except KlaviyoError as exc:
                    classes[exc.error_class] += 1
                    if exc.error_class == "retryable" or (
                        policy == "retries-any-failure" and exc.error_class == "outcome_unknown"
                    ):
                        continue
                    failed += 1
                    break
                recovered += bool((out.get("meta") or {}).get("recovered"))
                break
            else:
                failed += 1
        sandbox.options.fail_after_commit_rate = 0.0
        seen = names(runner, conn)
        runner.close()
    duplicates = sum(n - 1 for name, n in seen.items() if name != "Audience" and n > 1)
    return {
        "creates": len(plan),
        "duplicates": duplicates,
        "failed": failed,
        "recovered": recovered,
        "errors": dict(classes),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=0.1, help="fraction of writes failed after commit")
    parser.add_argument("--lists", type=int, default=200)
    parser.add_argument("--templates", type=int, default=200)
    parser.add_argument("--campaigns", type=int, default=100)
    parser.add_argument("--segments", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    counts = {
        "lists": args.lists,
        "templates": args.templates,
        "campaigns": args.campaigns,
        "segments": args.segments,
    }
    print(f"writes failed after commit: {args.rate:.0%}; creates per run: {sum(counts.values())} ({counts})")
    print(
        f"{'host policy':22} {'fault':6} {'creates':>7} {'duplicates':>10} {'failed':>6} {'recovered':>9}  errors seen"
    )
    for mode in ("error", "drop"):
        for policy in ("retries-any-failure", "follows-class"):
            started = time.perf_counter()
            r = run(policy, mode, args.rate, counts, args.seed)
            print(
                f"{policy:22} {mode:6} {r['creates']:>7} {r['duplicates']:>10} {r['failed']:>6} {r['recovered']:>9}"
                f"  {r['errors']}  ({time.perf_counter() - started:.1f} s)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
