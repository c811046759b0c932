"""Templates: create, list, get, update and delete (``/api/templates``).

Editor types follow the API: CODE and USER_DRAGGABLE templates need ``html``;
SYSTEM_DRAGGABLE ones take a ``definition`` instead (and no ``html`` or ``amp``; their HTML is
rendered by Klaviyo, here as a placeholder page). A single template carries its definition;
the collection only with ``additional-fields[template]=definition``. At most 1,000 templates can be created per
account. Assigning a template to a campaign message stores a non-reusable copy (see
``campaigns.py``): copies carry the internal ``_message_copy`` flag and are left out of the
collection and the cap, as Klaviyo's template list leaves them out.
"""

from __future__ import annotations

from typing import Any

from ... import prose_rules as rules
from .. import ids
from ..context import Reply, RequestContext, Route, sparse
from ..errors import invalid
from ..store import Resource

TYPE = "template"
EDITOR_TYPES = ("CODE", "USER_DRAGGABLE", "SYSTEM_DRAGGABLE")
HTML_EDITORS = ("CODE", "USER_DRAGGABLE")
MAX_TEMPLATES = rules.TEMPLATE_API_LIMIT
CREATE_ATTRIBUTES = ("name", "editor_type", "html", "text", "amp", "definition")
UPDATE_ATTRIBUTES = ("name", "html", "text", "amp", "definition")
COPY_FLAG = "_message_copy"
SYSTEM_HTML = "<html><body><!-- rendered from the drag-and-drop definition --></body></html>"


def is_reusable(template: Resource) -> bool:
    return not template.attributes.get(COPY_FLAG)


def render(ctx: RequestContext, template: Resource, *, definition: bool = False) -> dict[str, Any]:
    stored = template.attributes
    attributes: dict[str, Any] = {
        "name": stored.get("name"),
        "editor_type": stored.get("editor_type"),
        "html": stored.get("html")
        or (SYSTEM_HTML if stored.get("editor_type") == "SYSTEM_DRAGGABLE" else ""),
        "text": stored.get("text"),
        "amp": stored.get("amp"),
        "created": template.created,
        "updated": template.updated,
    }
    if definition and stored.get("editor_type") == "SYSTEM_DRAGGABLE":
        attributes["definition"] = stored.get("definition")
    base = f"/api/templates/{template.id}"
    return {
        "type": TYPE,
        "id": template.id,
        "attributes": sparse(attributes, ctx.fields(TYPE)),
        "links": ctx.self_link(base),
    }


def _check_definition(value: Any, pointer: str) -> None:
    """The members the spec requires of a drag-and-drop definition (its blocks are not checked)."""
    if not isinstance(value, dict):
        raise invalid("'definition' must be an object.", pointer=pointer)
    if not isinstance(value.get("body"), dict):
        raise invalid("'body' is a required object of 'definition'.", pointer=f"{pointer}/body")
    if not isinstance(value.get("styles"), list):
        raise invalid("'styles' is a required list of 'definition'.", pointer=f"{pointer}/styles")
    for name in ("properties", "styles"):
        if not isinstance(value["body"].get(name), dict):
            raise invalid(
                f"'{name}' is a required object of 'definition.body'.", pointer=f"{pointer}/body/{name}"
            )


def _check_attributes(attributes: dict[str, Any], allowed: tuple[str, ...], editor_type: str) -> None:
    for name, value in attributes.items():
        pointer = f"/data/attributes/{name}"
        if name not in allowed:
            raise invalid(f"'{name}' is not a valid field for the resource '{TYPE}'.", pointer=pointer)
        if name in ("name", "html", "text", "amp", "editor_type") and value is not None:
            if not isinstance(value, str):
                raise invalid(f"'{name}' must be a string.", pointer=pointer)
        if name == "definition" and value is not None:
            _check_definition(value, pointer)
    if editor_type == "SYSTEM_DRAGGABLE":
        for name in ("html", "amp"):
            if attributes.get(name) is not None:
                raise invalid(
                    f"'{name}' is not allowed for SYSTEM_DRAGGABLE templates.",
                    pointer=f"/data/attributes/{name}",
                )


def _document(ctx: RequestContext, template: Resource, status: int) -> Reply:
    ctx.additional_fields(TYPE)  # checked; a single template always carries its definition
    body = {
        "data": render(ctx, template, definition=True),
        "links": ctx.self_link(f"/api/templates/{template.id}"),
    }
    return Reply(status, body)


# -- handlers ----------------------------------------------------------------------------


def get_templates(ctx: RequestContext) -> Reply:
    definition = "definition" in ctx.additional_fields(TYPE)
    page, links = ctx.page_stored(TYPE, keep=is_reusable)
    return Reply(200, {"data": [render(ctx, row, definition=definition) for row in page], "links": links})


def get_template(ctx: RequestContext) -> Reply:
    return _document(ctx, ctx.get_or_404(TYPE, ctx.params["id"]), 200)


def create_template(ctx: RequestContext) -> Reply:
    data = ctx.resource_body(TYPE)
    attributes = dict(data.get("attributes") or {})
    name = attributes.get("name")
    if not isinstance(name, str) or not name.strip():
        raise invalid(
            "'name' is a required field for the resource 'template'.", pointer="/data/attributes/name"
        )
    editor_type = attributes.get("editor_type")
    if editor_type not in EDITOR_TYPES:
        raise invalid(
            f"'editor_type' must be one of {', '.join(EDITOR_TYPES)}.", pointer="/data/attributes/editor_type"
        )
    _check_attributes(attributes, CREATE_ATTRIBUTES, editor_type)
    if editor_type in HTML_EDITORS and not attributes.get("html"):
        raise invalid(f"'html' is required for {editor_type} templates.", pointer="/data/attributes/html")
    if editor_type not in HTML_EDITORS and not attributes.get("definition"):
        raise invalid(
            "'definition' is required for SYSTEM_DRAGGABLE templates.", pointer="/data/attributes/definition"
        )
    stored = {name: attributes.get(name) for name in CREATE_ATTRIBUTES}
    if editor_type in HTML_EDITORS:
        stored["definition"] = None  # the API ignores a definition on HTML templates
    with ctx.store.transaction():
        existing = sum(1 for row in ctx.store.list_resources(ctx.account_id, TYPE) if is_reusable(row))
        if existing >= MAX_TEMPLATES:
            raise invalid(
                f"This account has {existing} templates; the API can create templates only while an account "
                f"has fewer than {MAX_TEMPLATES}.",
                pointer="/data",
            )
        template = ctx.store.create(ctx.account_id, TYPE, ids.short_id(), stored, now=ctx.now())
    return _document(ctx, template, 201)


def update_template(ctx: RequestContext) -> Reply:
    template_id = ctx.params["id"]
    data = ctx.update_body(TYPE)
    changes = dict(data.get("attributes") or {})
    with ctx.store.transaction():
        template = ctx.get_or_404(TYPE, template_id)
        editor_type = str(template.attributes.get("editor_type"))
        _check_attributes(changes, UPDATE_ATTRIBUTES, editor_type)
        if editor_type in HTML_EDITORS and changes.get("definition") is not None:
            raise invalid(
                f"'definition' is not allowed for {editor_type} templates.",
                pointer="/data/attributes/definition",
            )
        if "name" in changes and not (isinstance(changes["name"], str) and changes["name"].strip()):
            raise invalid("'name' cannot be empty.", pointer="/data/attributes/name")
        if editor_type in HTML_EDITORS and "html" in changes and not changes["html"]:
            raise invalid(
                f"'html' cannot be empty for {editor_type} templates.", pointer="/data/attributes/html"
            )
        updated = ctx.store.update(
            ctx.account_id, TYPE, template_id, attributes={**template.attributes, **changes}, now=ctx.now()
        )
    assert updated is not None
    return _document(ctx, updated, 200)


def delete_template(ctx: RequestContext) -> Reply:
    ctx.delete_or_404(TYPE, ctx.params["id"])
    return Reply(204)


ROUTES = [
    Route("GET", "/api/templates", get_templates, "get_templates"),
    Route("POST", "/api/templates", create_template, "create_template"),
    Route("GET", "/api/templates/{id}", get_template, "get_template"),
    Route("PATCH", "/api/templates/{id}", update_template, "update_template"),
    Route("DELETE", "/api/templates/{id}", delete_template, "delete_template"),
]
