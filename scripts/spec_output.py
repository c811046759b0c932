"""What the generators in scripts/ share: find the spec, build one file from it, write it or check it.

    python scripts/gen_catalog.py [--spec FILE] [--out FILE] [--check]

The spec is ``--spec``, else ``$KLAVIYO_OPENAPI_SPEC``, else ``../shared/klaviyo-openapi/stable.json``
beside the repository. ``--check`` exits 1 when the committed file differs from a fresh build.
Files are written byte-identical on every platform (UTF-8, ``\\n`` line ends).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SPEC = REPO_ROOT.parent / "shared" / "klaviyo-openapi" / "stable.json"


def default_spec_path() -> Path:
    env = os.environ.get("KLAVIYO_OPENAPI_SPEC")
    return Path(env) if env else DEFAULT_SPEC


def generate(
    argv: list[str] | None,
    *,
    description: str,
    default_out: Path,
    script: str,
    build: Callable[[dict[str, Any]], str],
    summary: Callable[[str], str],
) -> int:
    """Run a generator's command line: ``build(spec) -> text`` is the file; ``summary(text)`` is
    what the written line says about it. Exit status 0, 1 (stale with --check) or 2 (no spec)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--spec", type=Path, default=None, help="OpenAPI spec (default: the shared one)")
    parser.add_argument("--out", type=Path, default=default_out, help="output file")
    parser.add_argument("--check", action="store_true", help="exit 1 if --out differs from a fresh build")
    args = parser.parse_args(argv)

    spec_file: Path = args.spec or default_spec_path()
    if not spec_file.is_file():
        print(f"error: spec not found at {spec_file}", file=sys.stderr)
        return 2
    with spec_file.open(encoding="utf-8") as fh:
        text = build(json.load(fh))

    out: Path = args.out
    if args.check:
        current = out.read_text(encoding="utf-8") if out.is_file() else None
        if current != text:
            print(f"{out} is out of date; run scripts/{script}", file=sys.stderr)
            return 1
        print(f"{out} is up to date")
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    print(f"wrote {out} ({len(text.encode('utf-8'))} bytes, {summary(text)})")
    return 0
