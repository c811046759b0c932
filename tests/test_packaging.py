"""The distribution: one import namespace in the wheel, the entry point, the console script."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_KEYS = {
    "bulkCreateEvents", "createCampaign", "createEvent", "createList", "createProfile", "createSegment",
    "createTemplate", "deleteCampaign", "deleteList", "deleteSegment", "deleteTemplate", "getAccount",
    "getCampaign", "getEvent", "getImage", "getList", "getProfile", "getSegment", "getTemplate",
    "listAccounts", "listCampaigns", "listEvents", "listImages", "listListProfiles", "listLists",
    "listProfile", "listSegments", "listTemplates", "subscribeProfiles", "unsubscribeProfiles",
    "updateCampaign", "updateImage", "updateList", "updateProfile", "updateSegment", "updateTemplate",
    "uploadImage",
}  # fmt: skip


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("klaviyo_connector-*.whl")
    return path


def test_wheel_holds_only_the_klaviyo_connector_namespace(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    outside = [n for n in names if not n.startswith(("klaviyo_connector/", "klaviyo_connector-"))]
    assert outside == []
    for module in (
        "actions/profiles.py",
        "datasources/profiles.py",
        "connections/api_key.py",
        "catalog.json",
        "schemas.json",
        "sandbox/server.py",
        "sandbox/resources/profiles.py",
        "http.py",
    ):
        assert f"klaviyo_connector/{module}" in names


def test_wheel_declares_entry_point_and_script(wheel: Path):
    zf = zipfile.ZipFile(wheel)
    (ep_name,) = [n for n in zf.namelist() if n.endswith("entry_points.txt")]
    text = zf.read(ep_name).decode()
    assert "[connector.components]\nklaviyo = klaviyo_connector.component:component" in text
    assert "klaviyo-connector = klaviyo_connector.cli:main" in text


def test_entry_point_loads_the_component_with_reference_keys():
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="connector.components") if e.name == "klaviyo"]
    component = ep.load()
    assert component.key == "klaviyo"
    assert REFERENCE_KEYS <= set(component.actions)
    assert {c.key for c in component.connections} >= {"apiKey"}


def test_loading_the_entry_point_imports_nothing_heavy():
    code = (
        "import sys; from importlib.metadata import entry_points; "
        "entry_points(group='connector.components')['klaviyo'].load(); "
        "print(','.join(m for m in ('requests', 'pydantic', 'werkzeug', 'sqlite3', 'authlib') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert out == ""


def test_versions_agree():
    from klaviyo_connector import __version__

    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^version = "(.+)"$', pyproject, re.M).group(1) == __version__
