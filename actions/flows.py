"""Flows: list them and switch a flow between draft, manual and live."""

from __future__ import annotations

from typing import Any, Literal

from klaviyo_connector.actions.lists import tag_fields
from klaviyo_connector.context import Context
from klaviyo_connector.inputs import EnumHint, IdField, Inputs, ResourceId
from klaviyo_connector.jsonapi import resource
from klaviyo_connector.listing import list_collection, list_inputs
from klaviyo_connector.model import Action
from klaviyo_connector.paths import api_path
from klaviyo_connector.prose_rules import FLOW_STATUSES
from klaviyo_connector.reads import query_input, read_params
from pydantic import Field

FLOW_FIELDS_HELP = "Flow fields to return (name, status, archived, created, updated, trigger_type)."


class ListFlowsInputs(list_inputs("get_flows")):
    flowFields: list[str] | None = Field(
        None,
        title="Flow Fields",
        description=FLOW_FIELDS_HELP,
        examples=[["name", "status", "trigger_type"]],
        json_schema_extra=EnumHint("get_flows", query="fields[flow]"),
    )
    include: list[str] | None = query_input(
        "get_flows",
        "include",
        "Include",
        "Related resources to include: flow-actions, tags.",
        ["flow-actions"],
    )
    flowActionFields: list[str] | None = query_input(
        "get_flows",
        "fields[flow-action]",
        "Flow Action Fields",
        "Fields of the included flow actions (Include flow-actions) to return, e.g. definition.type,updated.",
        ["definition.type", "updated"],
    )
    tagFields: list[str] | None = tag_fields("get_flows")


class UpdateFlowStatusInputs(Inputs):
    flowId: ResourceId = IdField("Flow ID", "The ID of the flow to update.", "XVTP5Q", "selectFlow")
    status: Literal[FLOW_STATUSES] = Field(  # type: ignore[valid-type]
        title="Status",
        description="draft (not sending), manual (messages wait for manual review) or live (sending). "
        "Applies to the flow and all its actions.",
        examples=["live"],
    )
    fields: list[str] | None = query_input(
        "update_flow",
        "fields[flow]",
        "Flow Fields",
        "Flow fields to return in the answer (sparse fieldset), e.g. name,status.",
        ["name", "status"],
    )


def list_flows(ctx: Context, inputs: ListFlowsInputs) -> Any:
    params = read_params(
        "get_flows",
        inputs,
        {
            "fields[flow]": "flowFields",
            "include": "include",
            "fields[flow-action]": "flowActionFields",
            "fields[tag]": "tagFields",
        },
    )
    return list_collection(ctx, "/api/flows", "get_flows", inputs, params)


def update_flow_status(ctx: Context, inputs: UpdateFlowStatusInputs) -> Any:
    body = resource("flow", {"status": inputs.status}, id=inputs.flowId)
    return ctx.client.request(
        "PATCH",
        api_path("/api/flows/{id}", id=inputs.flowId),
        params=read_params("update_flow", inputs, {"fields[flow]": "fields"}),
        json_body=body,
        operation="update_flow",
        idempotent=True,
    ).json()


ACTIONS = (
    Action(
        key="listFlows",
        label="List Flows",
        description="Get flows in the account: filter (name, status, archived, trigger_type, ...), sort, one "
        "page (up to 50) or all pages up to a cap.",
        inputs=ListFlowsInputs,
        perform=list_flows,
        operations=("get_flows",),
        read_only=True,
        idempotent=True,
    ),
    Action(
        key="updateFlowStatus",
        label="Update Flow Status",
        description="Set a flow and all its actions to draft, manual or live. Setting it live starts sending "
        "its messages.",
        inputs=UpdateFlowStatusInputs,
        perform=update_flow_status,
        operations=("update_flow",),
        idempotent=True,
    ),
)
