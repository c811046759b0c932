"""Templates: create, read, update, list and delete HTML email templates."""

from __future__ import annotations

from typing import Any, Literal

from klaviyo_connector.context import Context
from klaviyo_connector.errors import input_error
from klaviyo_connector.inputs import AtLeastOne, EnumHint, IdField, Inputs, ResourceId
from klaviyo_connector.jsonapi import acknowledgement, attributes, resource
from klaviyo_connector.listing import list_collection, list_inputs
from klaviyo_connector.manifest import acknowledgement_schema, member
from klaviyo_connector.model import Action
from klaviyo_connector.paths import api_path
from klaviyo_connector.reads import get_one, query_input, read_params
from klaviyo_connector.writes import create_once, natural_key
from pydantic import Field

TEMPLATE_ID_HELP = "The ID of the template."
TEMPLATE_ID_EXAMPLE = "RipRmi"
FIELDS_HELP = "Template fields to return (sparse fieldset), e.g. name,editor_type,updated."
FIELDS_EXAMPLE = ["name", "editor_type", "updated"]


def template_fields(operation: str) -> Any:
    """The Fields input of an action reading templates with ``operation``."""
    return Field(
        None,
        title="Fields",
        description=FIELDS_HELP,
        examples=[FIELDS_EXAMPLE],
        json_schema_extra=EnumHint(operation, query="fields[template]"),
    )


def additional_template_fields(operation: str) -> Any:
    """Additional Fields: template members Klaviyo returns only on request (the drag-and-drop definition)."""
    return query_input(
        operation,
        "additional-fields[template]",
        "Additional Fields",
        "Template fields returned only on request: definition (a drag-and-drop template's layout).",
        ["definition"],
    )


READS = {"fields[template]": "fields", "additional-fields[template]": "additionalFields"}
NAME_HELP = "The name of the template."
HTML_HELP = "The HTML content of the template."
TEXT_HELP = "The plain-text version of the template."

TEMPLATE_WIRE_NAMES = {
    "templateName": "name",
    "editorType": "editor_type",
    "templateHtml": "html",
    "templateText": "text",
}


class CreateTemplateInputs(Inputs):
    templateName: str = Field(
        title="Template Name", min_length=1, description=NAME_HELP, examples=["Monthly Newsletter Template"]
    )
    # SYSTEM_DRAGGABLE templates take a drag-and-drop definition instead of HTML; this action
    # creates HTML templates, for which Klaviyo requires the HTML.
    editorType: Literal["CODE", "USER_DRAGGABLE"] = Field(
        "CODE",
        title="Editor Type",
        description="CODE for a custom HTML template, USER_DRAGGABLE for HTML edited in the drag-and-drop "
        "editor. Both need Template HTML.",
    )
    templateHtml: str = Field(
        title="Template HTML",
        min_length=1,
        description=HTML_HELP,
        examples=["<html><body><p>Hello, world!</p></body></html>"],
    )
    templateText: str | None = Field(
        None, title="Template Text", description=TEXT_HELP, examples=["Hello, world!"]
    )
    fields: list[str] | None = template_fields("create_template")
    additionalFields: list[str] | None = additional_template_fields("create_template")


class TemplateIdInputs(Inputs):
    templateId: ResourceId = IdField("Template ID", TEMPLATE_ID_HELP, TEMPLATE_ID_EXAMPLE, "selectTemplate")


class GetTemplateInputs(TemplateIdInputs):
    fields: list[str] | None = template_fields("get_template")
    additionalFields: list[str] | None = additional_template_fields("get_template")


class UpdateTemplateInputs(TemplateIdInputs):
    FORM_RULES = (AtLeastOne("templateName", "templateHtml", "templateText", note="the change to make"),)

    templateName: str | None = Field(
        None, title="Template Name", description=NAME_HELP, examples=["Monthly Newsletter Template"]
    )
    templateHtml: str | None = Field(
        None,
        title="Template HTML",
        description=HTML_HELP,
        examples=["<html><body><p>Hello, world!</p></body></html>"],
    )
    templateText: str | None = Field(
        None, title="Template Text", description=TEXT_HELP + " Null clears it.", examples=["Hello, world!"]
    )
    fields: list[str] | None = template_fields("update_template")
    additionalFields: list[str] | None = additional_template_fields("update_template")


class ListTemplatesInputs(list_inputs("get_templates")):
    fields: list[str] | None = template_fields("get_templates")
    additionalFields: list[str] | None = additional_template_fields("get_templates")


def create_template(ctx: Context, inputs: CreateTemplateInputs) -> Any:
    body = resource("template", attributes(inputs, TEMPLATE_WIRE_NAMES))
    # The default editor type is part of the request even when the form left it untouched.
    body["data"]["attributes"]["editor_type"] = inputs.editorType
    lookup = natural_key("template", "name", body["data"]["attributes"]["name"])
    params = read_params("create_template", inputs, READS)
    return create_once(ctx, "/api/templates", body, operation="create_template", lookup=lookup, params=params)


def get_template(ctx: Context, inputs: GetTemplateInputs) -> Any:
    return get_one(ctx, api_path("/api/templates/{id}", id=inputs.templateId), "get_template", inputs, READS)


def update_template(ctx: Context, inputs: UpdateTemplateInputs) -> Any:
    attrs = attributes(inputs, TEMPLATE_WIRE_NAMES)
    if not attrs:
        raise input_error(
            "Template Name", "give at least one of Template Name, Template HTML or Template Text"
        )
    if "name" in attrs and not attrs["name"]:
        raise input_error("Template Name", "cannot be cleared; a template always has a name")
    body = resource("template", attrs, id=inputs.templateId)
    return ctx.client.request(
        "PATCH",
        api_path("/api/templates/{id}", id=inputs.templateId),
        params=read_params("update_template", inputs, READS),
        json_body=body,
        operation="update_template",
        idempotent=True,
    ).json()


def delete_template(ctx: Context, inputs: TemplateIdInputs) -> Any:
    response = ctx.client.request(
        "DELETE",
        api_path("/api/templates/{id}", id=inputs.templateId),
        operation="delete_template",
        idempotent=True,
    )
    return acknowledgement(response, "Template deleted.", template_id=inputs.templateId)


def list_templates(ctx: Context, inputs: ListTemplatesInputs) -> Any:
    params = read_params("get_templates", inputs, READS)
    return list_collection(ctx, "/api/templates", "get_templates", inputs, params)


DELETE_TEMPLATE_ACKNOWLEDGEMENT = acknowledgement_schema(
    required=["template_id"], template_id=member("string", "The deleted template's ID, as given.")
)


ACTIONS = (
    Action(
        key="createTemplate",
        label="Create Template",
        description="Create a new HTML template (CODE or USER_DRAGGABLE). Klaviyo allows at most 1,000 "
        "templates created through the API per account.",
        inputs=CreateTemplateInputs,
        perform=create_template,
        operations=("create_template",),
    ),
    Action(
        key="getTemplate",
        label="Get Template",
        description="Get the template with the given template ID.",
        inputs=GetTemplateInputs,
        perform=get_template,
        operations=("get_template",),
        read_only=True,
        idempotent=True,
    ),
    Action(
        key="updateTemplate",
        label="Update Template",
        description="Update the name, HTML or text of the template with the given template ID. Fields left "
        "out are unchanged.",
        inputs=UpdateTemplateInputs,
        perform=update_template,
        operations=("update_template",),
        idempotent=True,
    ),
    Action(
        key="deleteTemplate",
        label="Delete Template",
        description="Delete the template with the given template ID.",
        inputs=TemplateIdInputs,
        perform=delete_template,
        output_schema=DELETE_TEMPLATE_ACKNOWLEDGEMENT,
        operations=("delete_template",),
        idempotent=True,
        destructive=True,
    ),
    Action(
        key="listTemplates",
        label="List Templates",
        description="Get the templates in the account: filter, sort, one page (at most 10 templates; Klaviyo's "
        "limit) or all pages up to a cap.",
        inputs=ListTemplatesInputs,
        perform=list_templates,
        operations=("get_templates",),
        read_only=True,
        idempotent=True,
    ),
)
