"""Composio tool slugs (``KLAVIYO_GET_PROFILES``) resolved to Klaviyo operationIds.

Composio's Klaviyo toolkit names 231 tools (seed 000). Most slugs are ``KLAVIYO_`` plus an
operationId, or one of the spec's ``x-klaviyo-operation-aliases``, in upper snake case; those are
resolved through the catalog (``klaviyo_connector.catalog``), never a copied list. Nine slugs
name an operation by a summary that matches no id or alias; ``HAND_MAPPED`` maps them, each
checked against the spec for the operation that really does what the slug says.

Importing this module reads no catalog: the catalog loads on the first derived lookup.
"""

from __future__ import annotations

import re

from klaviyo_connector import catalog

__all__ = ["HAND_MAPPED", "PREFIX", "operation_for_slug"]

PREFIX = "KLAVIYO_"

# Slug without PREFIX -> operationId. Why each one, from the spec (revision 2026-07-15):
HAND_MAPPED: dict[str, str] = {
    # POST /api/lists/{id}/relationships/profiles adds profiles (by ID) to a list. Composio's text
    # also speaks of emails and consent; the spec's endpoint takes profile IDs and gives no consent.
    "ADD_PROFILE_TO_LIST": "add_profiles_to_list",
    # POST /api/campaign-message-assign-template; the slug swaps the words of the id.
    "ASSIGN_CAMPAIGN_MESSAGE_TEMPLATE": "assign_template_to_campaign_message",
    # POST /client/profiles: its summary is "Create or Update Client Profile".
    "CREATE_OR_UPDATE_CLIENT_PROFILE": "create_client_profile",
    # POST /client/push-tokens (public site ID): summary "Create or Update Client Push Token".
    "CREATE_OR_UPDATE_CLIENT_PUSH_TOKEN": "create_client_push_token",
    # POST /api/push-tokens (private key): summary "Create or Update Push Token".
    "CREATE_OR_UPDATE_PUSH_TOKEN": "create_push_token",
    # GET /api/profile-bulk-import-jobs/{id}/import-errors.
    "GET_BULK_PROFILE_IMPORT_JOB_ERRORS": "get_errors_for_bulk_import_profiles_job",
    # GET /api/flow-messages/{id}/flow-action: the action resource itself (Composio's tool takes
    # fields[flow-action]), not get_action_id_for_flow_message, which returns only its ID.
    "GET_FLOW_ACTION_FOR_MESSAGE": "get_action_for_flow_message",
    # DELETE /api/lists/{id}/relationships/profiles.
    "REMOVE_PROFILE_FROM_LIST": "remove_profiles_from_list",
    # PATCH /api/flows/{id}: its only attribute is status; summary "Update Flow Status".
    "UPDATE_FLOW_STATUS": "update_flow",
}

_NAME = re.compile(r"[A-Z0-9_]+")


def operation_for_slug(slug: str) -> str | None:
    """The operationId a Composio slug performs, or None when no operation matches.

    ``slug``: with or without the ``KLAVIYO_`` prefix, any case (``KLAVIYO_GET_PROFILES``,
    ``get_profiles``). Hand-mapped slugs come first; the rest match an operationId or an alias of
    the catalog (an alias never shadows an operationId). Returns e.g. ``"get_profiles"``.
    """
    name = slug.strip().upper()
    if name.startswith(PREFIX):
        name = name[len(PREFIX) :]
    if not _NAME.fullmatch(name):
        return None
    mapped = HAND_MAPPED.get(name)
    if mapped is not None:
        return mapped
    try:
        # Every operationId and alias in the catalog is lower snake case.
        return catalog.operation(name.lower()).id
    except KeyError:
        return None
