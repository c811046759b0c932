"""Freshness of the files scripts/ generate from the spec (catalog.json, schemas.json)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from contract import spec_path

REPO = Path(__file__).resolve().parents[1]


def assert_current(script: str, committed: Path, tmp_path: Path) -> None:
    """``scripts/<script>`` run on the spec writes exactly ``committed`` (skipped without the spec)."""
    spec = spec_path()
    if spec is None:
        pytest.skip(
            "Klaviyo OpenAPI spec not found (../shared/klaviyo-openapi/stable.json or $KLAVIYO_OPENAPI_SPEC)"
        )
    out = tmp_path / committed.name
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / script), "--spec", str(spec), "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == committed.read_bytes(), (
        f"connector/{committed.name} is stale; run: python scripts/{script}"
    )
