"""Images: import from a URL or data URI, upload a file, list, get and update (``/api/images``).

Like the API, only JPEG, PNG and GIF up to 5 MB are accepted, judged by the image's first
bytes. The sandbox never fetches remote URLs: an ``https://`` import is accepted when its path
ends in .jpg/.jpeg/.png/.gif (the format is taken from that extension) and its size is
recorded as 0 because nothing was downloaded. Data URIs and uploaded files are decoded and
checked for real. ``image_url`` points at a placeholder host (``.invalid``) since the sandbox
hosts no images. A name that is already taken gets a numeric suffix, as Klaviyo adds one.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from typing import Any
from urllib.parse import urlsplit

from ... import prose_rules as rules
from ..context import Reply, RequestContext, Route, resource_values, sparse
from ..errors import invalid
from ..store import Resource

TYPE = "image"
MAX_BYTES = rules.IMAGE_MAX_BYTES
SIGNATURES = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
)
EXTENSIONS = {"jpg": "jpeg", "jpeg": "jpeg", "png": "png", "gif": "gif"}
MIME_FORMATS = {"image/jpeg": "jpeg", "image/jpg": "jpeg", "image/png": "png", "image/gif": "gif"}
_DATA_URI = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[\w.+-]+=[^;,]*)*(?P<b64>;base64)?,", re.I)
IMAGE_HOST = "https://images.sandbox.invalid"


def sniff(content: bytes, pointer: str) -> str:
    """The format of an image's bytes; 400 unless it is a JPEG, PNG or GIF within 5 MB."""
    if not content:
        raise invalid("The image is empty.", pointer=pointer)
    if len(content) > MAX_BYTES:
        raise invalid(
            f"The image is {len(content)} bytes; images must be 5 MB ({MAX_BYTES} bytes) or smaller.",
            pointer=pointer,
        )
    for magic, fmt in SIGNATURES:
        if content.startswith(magic):
            return fmt
    raise invalid("Unsupported image format; upload a JPEG, PNG or GIF image.", pointer=pointer)


def values(image: Resource, name: str) -> list[Any]:
    """Filter/sort getter: ``updated_at`` is the store's timestamp."""
    if name == "updated_at":
        return [image.updated]
    return resource_values(image, name)


def render(ctx: RequestContext, image: Resource) -> dict[str, Any]:
    stored = image.attributes
    attributes = {
        "name": stored.get("name"),
        "image_url": stored.get("image_url"),
        "format": stored.get("format"),
        "size": stored.get("size"),
        "hidden": bool(stored.get("hidden")),
        "updated_at": image.updated,
    }
    return {
        "type": TYPE,
        "id": image.id,
        "attributes": sparse(attributes, ctx.fields(TYPE)),
        "links": ctx.self_link(f"/api/images/{image.id}"),
    }


def _document(ctx: RequestContext, image: Resource, status: int) -> Reply:
    return Reply(status, {"data": render(ctx, image), "links": ctx.self_link(f"/api/images/{image.id}")})


def _unique_name(ctx: RequestContext, wanted: str) -> str:
    taken = {row.attributes.get("name") for row in ctx.store.list_resources(ctx.account_id, TYPE)}
    if wanted not in taken:
        return wanted
    stem, dot, ext = wanted.rpartition(".")
    if not dot:
        stem, ext = wanted, ""
    n = 1
    while True:
        candidate = f"{stem}-{n}{'.' + ext if ext else ''}"
        if candidate not in taken:
            return candidate
        n += 1


def _hidden(value: Any, pointer: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise invalid("'hidden' must be a boolean.", pointer=pointer)


def _store(ctx: RequestContext, name: str, fmt: str, size: int, hidden: bool) -> Resource:
    with ctx.store.transaction():
        image_id = str(secrets.randbelow(900_000_000) + 100_000_000)
        while ctx.store.get(ctx.account_id, TYPE, image_id) is not None:  # pragma: no cover - 9 digits
            image_id = str(secrets.randbelow(900_000_000) + 100_000_000)
        attributes = {
            "name": _unique_name(ctx, name),
            "image_url": f"{IMAGE_HOST}/{ctx.account_id}/{image_id}.{'jpg' if fmt == 'jpeg' else fmt}",
            "format": fmt,
            "size": size,
            "hidden": hidden,
        }
        return ctx.store.create(ctx.account_id, TYPE, image_id, attributes, now=ctx.now())


def _from_data_uri(uri: str, pointer: str) -> tuple[str, int]:
    match = _DATA_URI.match(uri)
    if not match or not match.group("b64"):
        raise invalid("The data URI must look like data:image/png;base64,<data>.", pointer=pointer)
    mime = (match.group("mime") or "").lower()
    if mime not in MIME_FORMATS:
        raise invalid("Unsupported image format; upload a JPEG, PNG or GIF image.", pointer=pointer)
    try:
        content = base64.b64decode(re.sub(r"\s+", "", uri[match.end() :]), validate=True)
    except (binascii.Error, ValueError):
        raise invalid("The data URI does not contain valid base64 data.", pointer=pointer) from None
    return sniff(content, pointer), len(content)


def _from_url(url: str, pointer: str) -> tuple[str, str]:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise invalid("'import_from_url' must be an http(s) URL or a data URI.", pointer=pointer)
    filename = parts.path.rsplit("/", 1)[-1]
    fmt = EXTENSIONS.get(filename.rsplit(".", 1)[-1].lower()) if "." in filename else None
    if fmt is None:
        raise invalid(
            "The sandbox does not download images: give a URL whose path ends in .jpg, .jpeg, .png or .gif.",
            pointer=pointer,
        )
    return fmt, filename


# -- handlers ----------------------------------------------------------------------------


def get_images(ctx: RequestContext) -> Reply:
    rows = ctx.store.list_resources(ctx.account_id, TYPE)
    page, links = ctx.page(rows, rtype=TYPE, getter=values)
    return Reply(200, {"data": [render(ctx, row) for row in page], "links": links})


def get_image(ctx: RequestContext) -> Reply:
    return _document(ctx, ctx.get_or_404(TYPE, ctx.params["id"]), 200)


def upload_image_from_url(ctx: RequestContext) -> Reply:
    data = ctx.resource_body(TYPE)
    attributes = dict(data.get("attributes") or {})
    for key in attributes:
        if key not in ("import_from_url", "name", "hidden"):
            raise invalid(
                f"'{key}' is not a valid field for the resource 'image'.", pointer=f"/data/attributes/{key}"
            )
    source = attributes.get("import_from_url")
    pointer = "/data/attributes/import_from_url"
    if not isinstance(source, str) or not source.strip():
        raise invalid("'import_from_url' is a required field for the resource 'image'.", pointer=pointer)
    name = attributes.get("name")
    if name is not None and not isinstance(name, str):
        raise invalid("'name' must be a string.", pointer="/data/attributes/name")
    hidden = _hidden(attributes.get("hidden"), "/data/attributes/hidden")
    if source[:5].lower() == "data:":
        fmt, size = _from_data_uri(source, pointer)
        default_name = "image"
    else:
        fmt, default_name = _from_url(source, pointer)
        size = 0  # never downloaded (see the module docstring)
    return _document(ctx, _store(ctx, name or default_name, fmt, size, hidden), 201)


def upload_image_from_file(ctx: RequestContext) -> Reply:
    request = ctx.request
    unknown = sorted((set(request.form) | set(request.files)) - {"file", "name", "hidden"})
    if unknown:
        raise invalid(f"'{unknown[0]}' is not a valid form field.", pointer=f"/{unknown[0]}")
    upload = request.files.get("file")
    if upload is None:
        raise invalid("'file' is a required form field.", pointer="/file")
    content = upload.read()
    fmt = sniff(content, "/file")
    hidden = _hidden(request.form.get("hidden"), "/hidden")
    name = request.form.get("name") or upload.filename or "image"
    return _document(ctx, _store(ctx, name, fmt, len(content), hidden), 201)


def update_image(ctx: RequestContext) -> Reply:
    image_id = ctx.params["id"]
    data = ctx.update_body(TYPE)
    changes = dict(data.get("attributes") or {})
    for key, value in changes.items():
        pointer = f"/data/attributes/{key}"
        if key not in ("name", "hidden"):
            raise invalid(f"'{key}' is not a valid field for the resource 'image'.", pointer=pointer)
        if key == "name" and value is not None and (not isinstance(value, str) or not value.strip()):
            raise invalid("'name' must be a non-empty string.", pointer=pointer)
        if key == "hidden" and value is not None and not isinstance(value, bool):
            raise invalid("'hidden' must be a boolean.", pointer=pointer)
    with ctx.store.transaction():
        image = ctx.get_or_404(TYPE, image_id)
        attributes = dict(image.attributes)
        if changes.get("name") is not None and changes["name"] != attributes.get("name"):
            attributes["name"] = _unique_name(ctx, changes["name"])
        if changes.get("hidden") is not None:
            attributes["hidden"] = changes["hidden"]
        updated = ctx.store.update(ctx.account_id, TYPE, image_id, attributes=attributes, now=ctx.now())
    assert updated is not None
    return _document(ctx, updated, 200)


ROUTES = [
    Route("GET", "/api/images", get_images, "get_images"),
    Route("POST", "/api/images", upload_image_from_url, "upload_image_from_url"),
    Route("GET", "/api/images/{id}", get_image, "get_image"),
    Route("PATCH", "/api/images/{id}", update_image, "update_image"),
    Route(
        "POST",
        "/api/image-upload",
        upload_image_from_file,
        "upload_image_from_file",
        content_types=("multipart/form-data",),
    ),
]
