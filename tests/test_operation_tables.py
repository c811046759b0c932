"""The data tables behind the generated actions: one sentence per operation, Composio slugs.

``actions/descriptions.py`` must describe every operation of the catalog in one sentence of our
own (never the spec's prose); ``actions/slugs.py`` must resolve every tool slug of Composio's
Klaviyo toolkit (seed 000) to the operation that performs it.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from contract import load_spec
from klaviyo_connector import catalog
from klaviyo_connector.actions.descriptions import DESCRIPTIONS
from klaviyo_connector.actions.slugs import HAND_MAPPED, operation_for_slug

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO.parent / "shared" / "seeds"

MAX_CHARS = 200
# A run this long shared with the spec's own prose means the sentence was copied, not written.
COPIED_RUN = 8
# Markdown, HTML and link syntax; a description is plain text a host can show as is.
MARKUP = re.compile(r"[`*_#<>|\[\]]|\]\(|https?://")
# A sentence end followed by more text: a second sentence.
INNER_END = re.compile(r"[.!?]\s")


# -- the rules, as functions the tests below also check can fail ---------------------------------


def sentence_problems(text: Any) -> list[str]:
    """What makes ``text`` break the rules for a description ([] when it keeps them)."""
    if not isinstance(text, str) or not text.strip():
        return ["is not a non-blank string"]
    problems = []
    if len(text) > MAX_CHARS:
        problems.append(f"has {len(text)} characters (more than {MAX_CHARS})")
    if text != text.strip() or "  " in text or "\n" in text:
        problems.append("has stray whitespace or a line break")
    if not text[0].isupper():
        problems.append("does not start with a capital letter")
    if not text.endswith("."):
        problems.append("does not end with a period")
    if INNER_END.search(text[:-1]):
        problems.append("holds more than one sentence")
    if MARKUP.search(text):
        problems.append("holds markdown, HTML or a link")
    return problems


def _words(text: str) -> list[str]:
    # Markup and punctuation are not words; "profile's" and "profile’s" are the same word.
    text = re.sub(r"<[^>]+>", " ", text.replace("\u2019", "'")).lower()
    return re.findall(r"[a-z0-9']+", text)


def shared_run(ours: str, theirs: str, length: int = COPIED_RUN) -> str | None:
    """The first run of ``length`` consecutive words of ``ours`` that also occurs in ``theirs``."""
    mine = _words(ours)
    other = _words(theirs)
    runs = {tuple(other[i : i + length]) for i in range(len(other) - length + 1)}
    for i in range(len(mine) - length + 1):
        if tuple(mine[i : i + length]) in runs:
            return " ".join(mine[i : i + length])
    return None


def _spec_prose() -> dict[str, str]:
    """operationId -> the spec's summary, description and request-body description, joined."""
    prose: dict[str, str] = {}
    for item in load_spec()["paths"].values():
        for op in item.values():
            if isinstance(op, dict) and "operationId" in op:
                parts = [
                    op.get("summary"),
                    op.get("description"),
                    (op.get("requestBody") or {}).get("description"),
                ]
                prose[op["operationId"]] = "\n".join(p for p in parts if p)
    return prose


# -- descriptions ---------------------------------------------------------------------------------


def test_every_operation_has_a_description_and_every_key_is_an_operation():
    ids = {op.id for op in catalog.operations()}
    assert len(ids) == 345
    assert sorted(ids - DESCRIPTIONS.keys()) == [], "operations without a description"
    assert sorted(DESCRIPTIONS.keys() - ids) == [], "descriptions for no operationId of the catalog"


def test_every_description_is_one_plain_sentence_of_at_most_200_characters():
    broken = {
        op_id: problems for op_id, text in DESCRIPTIONS.items() if (problems := sentence_problems(text))
    }
    assert broken == {}


def test_descriptions_tell_operations_apart():
    by_text: dict[str, list[str]] = {}
    for op_id, text in DESCRIPTIONS.items():
        by_text.setdefault(text, []).append(op_id)
    assert [ids for ids in by_text.values() if len(ids) > 1] == []


def test_no_description_copies_a_run_of_the_spec_prose_of_its_operation():
    prose = _spec_prose()  # skips, saying where the spec was expected, when it is absent
    assert prose.keys() >= DESCRIPTIONS.keys()
    copied = {op_id: run for op_id, text in DESCRIPTIONS.items() if (run := shared_run(text, prose[op_id]))}
    assert copied == {}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Gets a profile. Then returns it.", "holds more than one sentence"),
        ("Gets a profile", "does not end with a period"),
        ("gets a profile.", "does not start with a capital letter"),
        ("Gets a `profile`.", "holds markdown, HTML or a link"),
        ("Gets a **profile**.", "holds markdown, HTML or a link"),
        ("Gets a profile, see [docs](x).", "holds markdown, HTML or a link"),
        ("Gets a profile<br>fast.", "holds markdown, HTML or a link"),
        ("Gets a profile from https://a.klaviyo.com.", "holds markdown, HTML or a link"),
        ("Gets a  profile.", "has stray whitespace or a line break"),
        ("Gets a\nprofile.", "has stray whitespace or a line break"),
        ("A" + "a" * 199 + ".", "has 201 characters (more than 200)"),
        ("", "is not a non-blank string"),
        (None, "is not a non-blank string"),
    ],
)
def test_the_sentence_rules_refuse_what_they_should(text, problem):
    assert problem in sentence_problems(text)


def test_the_sentence_rules_accept_a_sentence_with_a_period_inside_a_word():
    assert sentence_problems("Reads version 2.0 of a profile's list.") == []


def test_the_copy_check_finds_a_run_of_eight_words_and_ignores_seven():
    spec = "Get all <b>catalog</b> items in an account with the given item ID."
    assert shared_run("We get all catalog items in an account with care.", spec) == (
        "get all catalog items in an account with"
    )
    assert shared_run("We get all catalog items in an account.", spec) is None
    assert shared_run("Lists the products of the catalog.", spec) is None


def test_descriptions_module_is_a_plain_dict_literal():
    # Importing it must cost nothing: no imports beyond __future__, no code, only strings.
    tree = ast.parse((REPO / "actions" / "descriptions.py").read_text(encoding="utf-8"))
    imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    assert [(n.module if isinstance(n, ast.ImportFrom) else None) for n in imports] == ["__future__"]
    (table,) = [n for n in tree.body if isinstance(n, ast.AnnAssign)]
    assert isinstance(table.target, ast.Name) and table.target.id == "DESCRIPTIONS"
    assert isinstance(table.value, ast.Dict)
    assert all(isinstance(n, ast.Constant) and isinstance(n.value, str) for n in table.value.keys)
    assert all(isinstance(n, ast.Constant) and isinstance(n.value, str) for n in table.value.values)
    assert len(table.value.keys) == len(DESCRIPTIONS)  # no key written twice


# -- Composio slugs -------------------------------------------------------------------------------

EXPECTED_HAND_MAPPED = {
    # slug: (operationId, method, path): the operation that performs what the slug names.
    "ADD_PROFILE_TO_LIST": ("add_profiles_to_list", "POST", "/api/lists/{id}/relationships/profiles"),
    "ASSIGN_CAMPAIGN_MESSAGE_TEMPLATE": (
        "assign_template_to_campaign_message",
        "POST",
        "/api/campaign-message-assign-template",
    ),
    "CREATE_OR_UPDATE_CLIENT_PROFILE": ("create_client_profile", "POST", "/client/profiles"),
    "CREATE_OR_UPDATE_CLIENT_PUSH_TOKEN": ("create_client_push_token", "POST", "/client/push-tokens"),
    "CREATE_OR_UPDATE_PUSH_TOKEN": ("create_push_token", "POST", "/api/push-tokens"),
    "GET_BULK_PROFILE_IMPORT_JOB_ERRORS": (
        "get_errors_for_bulk_import_profiles_job",
        "GET",
        "/api/profile-bulk-import-jobs/{id}/import-errors",
    ),
    "GET_FLOW_ACTION_FOR_MESSAGE": (
        "get_action_for_flow_message",
        "GET",
        "/api/flow-messages/{id}/flow-action",
    ),
    "REMOVE_PROFILE_FROM_LIST": (
        "remove_profiles_from_list",
        "DELETE",
        "/api/lists/{id}/relationships/profiles",
    ),
    "UPDATE_FLOW_STATUS": ("update_flow", "PATCH", "/api/flows/{id}"),
}


def _seed_slugs() -> list[str]:
    files = sorted(SEEDS.glob("000_*.txt"))
    if not files:
        pytest.skip(f"Composio's Klaviyo toolkit (seed 000) not found under {SEEDS}")
    text = files[0].read_text(encoding="utf-8")
    # Each tool's slug runs straight into the Spanish word for action ("Acción").
    slugs = sorted(set(re.findall(r"^(KLAVIYO_[A-Z0-9_]+?)Acci\u00f3n", text, re.M)))
    (stated,) = re.findall(r"Acciones disponibles \((\d+)\)", text)
    assert len(slugs) == int(stated) == 231
    return slugs


def test_every_composio_slug_resolves_to_an_operation_of_the_catalog():
    unresolved = [slug for slug in _seed_slugs() if operation_for_slug(slug) is None]
    assert unresolved == []
    ids = {op.id for op in catalog.operations()}
    assert {operation_for_slug(slug) for slug in _seed_slugs()} <= ids


def test_derived_slugs_are_the_operation_id_or_an_alias_in_upper_snake_case():
    derived = [slug for slug in _seed_slugs() if slug.removeprefix("KLAVIYO_") not in HAND_MAPPED]
    assert len(derived) == 231 - 9
    for slug in derived:
        op = catalog.operation(operation_for_slug(slug))
        assert slug.removeprefix("KLAVIYO_") in {name.upper() for name in (op.id, *op.aliases)}, slug


def test_the_nine_hand_mapped_slugs_name_the_operations_that_perform_them():
    assert {slug: op_id for slug, (op_id, _, _) in EXPECTED_HAND_MAPPED.items()} == HAND_MAPPED
    for slug, (op_id, method, path) in EXPECTED_HAND_MAPPED.items():
        assert operation_for_slug(f"KLAVIYO_{slug}") == op_id
        op = catalog.operation(op_id)
        assert (op.id, op.method, op.path) == (op_id, method, path)


def test_hand_mapped_slugs_are_in_the_seed_and_match_no_id_or_alias():
    # The hand table holds only what the catalog cannot resolve, so it never overrides it.
    assert {f"KLAVIYO_{slug}" for slug in HAND_MAPPED} <= set(_seed_slugs())
    for slug in HAND_MAPPED:
        with pytest.raises(KeyError):
            catalog.operation(slug.lower())


@pytest.mark.parametrize(
    ("slug", "op_id"),
    [
        ("KLAVIYO_GET_PROFILES", "get_profiles"),
        ("GET_PROFILES", "get_profiles"),
        ("klaviyo_get_profiles", "get_profiles"),
        ("get_profiles", "get_profiles"),
        ("  KLAVIYO_GET_PROFILES\n", "get_profiles"),
        ("KLAVIYO_SUBSCRIBE_PROFILES", "bulk_subscribe_profiles"),  # an alias
        ("KLAVIYO_SPAWN_CREATE_ITEMS_JOB", "bulk_create_catalog_items"),  # an alias
        ("Klaviyo_Update_Flow_Status", "update_flow"),  # hand-mapped, any case
        ("remove_profile_from_list", "remove_profiles_from_list"),
        ("KLAVIYO_GET_CATALOG_ITEMS", "get_catalog_items"),  # not in seed 000, still an operationId
    ],
)
def test_operation_for_slug_takes_any_case_with_or_without_the_prefix(slug, op_id):
    assert operation_for_slug(slug) == op_id


@pytest.mark.parametrize(
    "slug",
    [
        "",
        "KLAVIYO_",
        "KLAVIYO_NOT_AN_OPERATION",
        "KLAVIYO_GET-PROFILES",
        "get_profiles;drop",
        "KLAVIYO_KLAVIYO_GET_PROFILES",
    ],
)
def test_operation_for_slug_answers_none_for_what_names_no_operation(slug):
    assert operation_for_slug(slug) is None


def test_slug_module_reads_the_catalog_only_on_a_derived_lookup():
    # Loaded on its own (the actions package loads the catalog for the curated actions).
    code = (
        "import importlib.util, sys\n"
        "import klaviyo_connector.catalog as c\n"
        f"spec = importlib.util.spec_from_file_location('slugs_alone', {str(REPO / 'actions' / 'slugs.py')!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "assert c._catalog.cache_info().currsize == 0, 'read at import'\n"
        "assert m.operation_for_slug('KLAVIYO_UPDATE_FLOW_STATUS') == 'update_flow'\n"
        "assert c._catalog.cache_info().currsize == 0, 'read for a hand-mapped slug'\n"
        "assert m.operation_for_slug('KLAVIYO_GET_LISTS') == 'get_lists'\n"
        "assert c._catalog.cache_info().currsize == 1\n"
        "assert 'pydantic' not in sys.modules and 'requests' not in sys.modules\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
