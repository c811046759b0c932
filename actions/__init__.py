"""Every curated action, one module per resource; each module exports ACTIONS.

Importing this package imports none of them: ``ACTIONS`` (every curated action, modules in the
order of ``CURATED``) imports them all on first use, and ``MODULE_OF`` names the module holding
each key, so a host that runs one action imports (and builds the input models of) that module only.
``tests/test_action_aliases.py`` keeps ``CURATED`` equal to what the modules declare.
"""

from __future__ import annotations

import importlib
from typing import Any

# Module -> the keys of the actions it declares, in listing order.
CURATED: dict[str, tuple[str, ...]] = {
    "accounts": ("listAccounts", "getAccount"),
    "profiles": (
        "createProfile",
        "getProfile",
        "updateProfile",
        "createOrUpdateProfile",
        "requestProfileDeletion",
        "listProfile",
    ),
    "finds": ("findProfile", "findOrCreateProfile", "findListByName", "findSegmentByName", "findTagByName"),
    "imports": ("importProfiles",),
    "lists": (
        "createList",
        "getList",
        "listLists",
        "updateList",
        "deleteList",
        "listListProfiles",
        "addProfilesToList",
        "removeProfilesFromList",
    ),
    "segments": (
        "createSegment",
        "getSegment",
        "listSegments",
        "updateSegment",
        "deleteSegment",
        "listSegmentProfiles",
    ),
    "membership": ("isProfileInList", "isProfileInSegment"),
    "subscriptions": ("subscribeProfiles", "unsubscribeProfiles", "suppressProfiles", "unsuppressProfiles"),
    "campaigns": (
        "createCampaign",
        "getCampaign",
        "listCampaigns",
        "updateCampaign",
        "deleteCampaign",
        "sendCampaign",
        "assignCampaignTemplate",
    ),
    "campaign_messages": ("updateCampaignMessage",),
    "templates": ("createTemplate", "getTemplate", "updateTemplate", "deleteTemplate", "listTemplates"),
    "images": ("uploadImage", "getImage", "updateImage", "listImages"),
    "reports": ("queryCampaignValues",),
    "events": ("createEvent", "bulkCreateEvents", "getEvent", "listEvents"),
    "metrics": ("listMetrics", "queryMetricAggregates"),
    "flows": ("listFlows", "updateFlowStatus"),
    "raw": ("rawRequest",),
}
MODULE_OF: dict[str, str] = {key: module for module, keys in CURATED.items() for key in keys}


def __getattr__(name: str) -> Any:
    if name == "ACTIONS":
        found = tuple(a for m in CURATED for a in importlib.import_module(f"{__name__}.{m}").ACTIONS)
        globals()["ACTIONS"] = found
        return found
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
