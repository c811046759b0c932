"""Every name a user may know an operation by reaches an action that performs it.

Every operationId, every alias in the spec's ``x-klaviyo-operation-aliases`` (from the catalog) and
every one of the 231 Composio slugs of seed 000 (``KLAVIYO_`` plus the upper-snake name) resolves,
in the component, the Runner and the CLI. Curated actions keep their keys; the curated index
(``actions.CURATED``) matches what the modules declare.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import responses
from conftest import CONNECTION, run
from klaviyo_connector import actions, catalog
from klaviyo_connector.actions import generated
from klaviyo_connector.actions.slugs import HAND_MAPPED, operation_for_slug
from klaviyo_connector.cli import main
from klaviyo_connector.component import component

BASE = "https://a.klaviyo.com"
SEED = Path(__file__).resolve().parents[1].parent / "shared/seeds/000_db8da037bb82ecb6.txt"
ACTIONS_DIR = Path(actions.__file__).parent
NOT_CURATED = {"__init__", "generated", "descriptions", "slugs"}


def _slugs() -> list[str]:
    if not SEED.is_file():
        pytest.skip(f"seed 000 (Composio's tool list) not found at {SEED}")
    # Each tool's line starts with its slug, then the word "Acción" (the page is in Spanish).
    return sorted(
        set(re.findall(r"^(KLAVIYO_[A-Z0-9_]+?)Acci\u00f3n", SEED.read_text(encoding="utf-8"), re.M))
    )


# -- the curated index -----------------------------------------------------------------------------


def test_curated_index_matches_what_each_module_declares():
    declared = {}
    for path in sorted(ACTIONS_DIR.glob("*.py")):
        if path.stem in NOT_CURATED:
            continue
        module = importlib.import_module(f"klaviyo_connector.actions.{path.stem}")
        if hasattr(module, "ACTIONS"):
            declared[path.stem] = tuple(a.key for a in module.ACTIONS)
    assert declared == actions.CURATED
    assert [a.key for a in actions.ACTIONS] == [k for keys in actions.CURATED.values() for k in keys]
    assert list(component.actions) == list(actions.MODULE_OF)


def test_curated_keys_resolve_to_the_curated_actions():
    for key, action in component.actions.items():
        assert component.find_action(key) is action
        assert not action.generated


def test_running_one_curated_action_imports_only_its_module():
    probe = (
        "import sys, json\n"
        "from klaviyo_connector.component import component\n"
        "action = component.find_action('getProfile')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('klaviyo_connector.actions.'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [
        "klaviyo_connector.actions.generated",
        "klaviyo_connector.actions.profiles",
    ]


# -- operationIds, aliases, slugs ------------------------------------------------------------------


def test_every_operation_id_resolves_to_its_generated_action():
    for op in catalog.operations():
        action = component.find_action(op.id)
        assert action is not None and action.generated and action.operations == (op.id,), op.id


def test_every_alias_resolves_to_the_action_of_its_operation():
    aliases = [(alias, op.id) for op in catalog.operations() for alias in op.aliases]
    assert len(aliases) == 299  # revision 2026-07-15
    for alias, op_id in aliases:
        action = component.find_action(alias)
        assert action is not None and action.operations == (op_id,), alias


def test_all_231_composio_slugs_resolve():
    slugs = _slugs()
    assert len(slugs) == 231
    unresolved = []
    for slug in slugs:
        action = component.find_action(slug)
        if action is None or action.operations != (operation_for_slug(slug),):
            unresolved.append(slug)
    assert not unresolved
    for name, op_id in HAND_MAPPED.items():
        assert component.find_action(f"KLAVIYO_{name}").operations == (op_id,)


def test_unknown_names_resolve_to_nothing():
    for name in ("", "getProfil", "KLAVIYO_NOPE", "KLAVIYO_", "get profiles", "../get_profiles"):
        assert component.find_action(name) is None, name


# -- the runner and the CLI ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["getCoupons", "get_coupons", "KLAVIYO_GET_COUPONS", "klaviyo_get_coupons"], ids=str
)
def test_runner_runs_an_operation_by_any_of_its_names(runner, klaviyo, name):
    klaviyo.get(f"{BASE}/api/coupons", json={"data": [], "links": {"self": f"{BASE}/api/coupons"}})
    out = run(runner, name, {})
    assert out["data"]["data"] == [] and out["data"]["meta"]["records"] == 0
    assert klaviyo.calls[0].request.url.startswith(f"{BASE}/api/coupons?page%5Bsize%5D=")


def test_runner_runs_by_alias_the_operation_it_names(runner, klaviyo):
    klaviyo.post(f"{BASE}/api/lists/L1/relationships/profiles", status=204)
    run(runner, "create_list_relationships_profiles", {"listId": "L1", "profileIds": ["01A"]})
    assert klaviyo.calls[0].request.method == "POST"


def test_runner_describes_an_action_by_any_of_its_names(runner):
    by_slug = runner.describe_action("klaviyo", "KLAVIYO_GET_COUPONS")
    assert by_slug == runner.describe_action("klaviyo", "getCoupons")
    assert by_slug["operations"] == ["get_coupons"] and by_slug["generated"] is True
    assert by_slug["inputs"]["properties"]["couponFields"]["title"] == "Coupon Fields"
    assert by_slug["output"]["properties"]["data"]["title"] == "JSON:API collection"
    curated = runner.describe_action("klaviyo", "getProfile")
    assert curated["generated"] is False and curated["output"]["$defs"]


def test_runner_names_an_unknown_action(runner):
    from klaviyo_connector.errors import KlaviyoError

    with pytest.raises(KlaviyoError) as info:
        run(runner, "KLAVIYO_NOPE", {})
    assert info.value.code == "unknown_action"
    with pytest.raises(KlaviyoError) as info:
        runner.describe_action("klaviyo", "getProfil")
    assert str(info.value) == "Component 'klaviyo' has no action 'getProfil'."


def test_cli_runs_and_describes_by_slug(capsys, monkeypatch):
    monkeypatch.delenv("KLAVIYO_API_KEY", raising=False)
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/api/coupons", json={"data": [{"type": "coupon", "id": "SUMMER"}], "links": {}})
        assert main(["run", "KLAVIYO_GET_COUPONS", "--api-key", CONNECTION["fields"]["apiKey"]]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["data"] == [{"type": "coupon", "id": "SUMMER"}]
    assert main(["describe", "KLAVIYO_GET_COUPONS"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert described["key"] == "getCoupons" and described["generated"] is True
    assert described["operations"] == ["get_coupons"]
    assert described["output"]["properties"]["data"]["title"] == "JSON:API collection"
    assert "CouponResponseObjectResource" in described["output"]["$defs"]
    assert main(["describe", "get_profile"]) == 0  # the curated getProfile's generated twin
    assert json.loads(capsys.readouterr().out)["key"] == "getProfileOperation"


def test_cli_lists_curated_actions_first_then_every_operation(capsys):
    assert main(["actions", "--json"]) == 0
    curated = json.loads(capsys.readouterr().out)
    assert [row["key"] for row in curated] == list(component.actions)
    assert main(["actions", "--all", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[: len(curated)] == curated
    rest = rows[len(curated) :]
    assert len(rest) == 345 and all(row["group"] == generated.GROUP for row in rest)
    assert {"key": "getCatalogItems", "label": "Get Catalog Items", "group": generated.GROUP} in rest
