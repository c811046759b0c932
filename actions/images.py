"""Images: upload (from a URL, a data URI or file bytes), read, update and list."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any

from klaviyo_connector import prose_rules as rules
from klaviyo_connector.context import Context
from klaviyo_connector.errors import input_error
from klaviyo_connector.inputs import AtLeastOne, EnumHint, ExactlyOne, FormHint, IdField, Inputs, ResourceId
from klaviyo_connector.jsonapi import attributes, resource
from klaviyo_connector.listing import list_collection, list_inputs
from klaviyo_connector.model import Action
from klaviyo_connector.paths import api_path
from klaviyo_connector.reads import get_one, read_params
from pydantic import Field, field_validator, model_validator

MAX_IMAGE_BYTES = rules.IMAGE_MAX_BYTES  # both upload endpoints
# What Image URL takes, as the form shows it (JSON Schema patterns have no flags: each case spelled).
ImageUrl = Annotated[str, FormHint(pattern=r"^(?:[hH][tT][tT][pP][sS]://[^\s/]+|[dD][aA][tT][aA]:)")]
# Leading bytes of the formats Klaviyo accepts, and the MIME type each is sent as.
SIGNATURES = (
    (b"\xff\xd8\xff", "jpeg", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png", "image/png"),
    (b"GIF87a", "gif", "image/gif"),
    (b"GIF89a", "gif", "image/gif"),
)
_DATA_URI = re.compile(
    r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(?:;[\w.+-]+=[^;,]*)*)(?P<b64>;base64)?,"
)

IMAGE_ID_HELP = "The ID of the image."
IMAGE_ID_EXAMPLE = "155463624"
FIELDS_HELP = "Image fields to return (sparse fieldset), e.g. name,image_url,format."
FIELDS_EXAMPLE = ["name", "image_url", "format"]
# The smallest GIF (a 1x1 pixel), as base64 text.
FILE_DATA_EXAMPLE = "R0lGODlhAQABAAAAACw="
READS = {"fields[image]": "fields"}
NAME_HELP = (
    "A name for the image. Defaults to the file name; if the name matches an existing image, Klaviyo adds a "
    "suffix."
)
HIDDEN_HELP = "Hide the image from the asset library."


def image_format(content: bytes, what: str) -> tuple[str, str]:
    """``(format, mime type)`` of JPEG/PNG/GIF bytes within the size limit; ValueError otherwise."""
    if not content:
        raise ValueError(f"{what} is empty")
    if len(content) > MAX_IMAGE_BYTES:
        raise ValueError(
            f"{what} is {len(content):,} bytes; Klaviyo accepts images up to 5 MB ({MAX_IMAGE_BYTES:,} bytes)"
        )
    for magic, fmt, mime in SIGNATURES:
        if content.startswith(magic):
            return fmt, mime
    raise ValueError(f"{what} is not a JPEG, PNG or GIF image (judged by its first bytes)")


def decode_data_uri(uri: str) -> bytes:
    """The bytes of a ``data:`` URI; ValueError naming what is wrong."""
    match = _DATA_URI.match(uri)
    if not match:
        raise ValueError("is not a valid data URI; expected data:image/png;base64,...")
    payload = uri[match.end() :]
    if not match.group("b64"):
        raise ValueError("data URIs must be base64-encoded (data:image/png;base64,...)")
    try:
        return base64.b64decode(re.sub(r"\s+", "", payload), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the data URI's content is not valid base64") from None


def image_fields(operation: str) -> Any:
    """The Fields input of an action reading images with ``operation``."""
    return Field(
        None,
        title="Fields",
        description=FIELDS_HELP,
        examples=[FIELDS_EXAMPLE],
        json_schema_extra=EnumHint(operation, query="fields[image]"),
    )


class UploadImageInputs(Inputs):
    FORM_RULES = (ExactlyOne("imageUrl", "fileData"),)

    imageUrl: ImageUrl | None = Field(
        None,
        title="Image URL",
        description="An https URL to import the image from, or a base64 data URI "
        "(data:image/png;base64,...). Give this or File Data.",
        examples=["https://example.com/image.jpg"],
    )
    fileData: bytes | str | None = Field(
        None,
        title="File Data",
        description="The image file's bytes from a previous step (raw bytes or base64 text). Give this or "
        "Image URL.",
        examples=[FILE_DATA_EXAMPLE],
    )
    imageName: str | None = Field(None, title="Image Name", description=NAME_HELP, examples=["My Image"])
    imageHidden: bool | None = Field(None, title="Image Hidden", description=HIDDEN_HELP)
    # Both upload operations take the same fields[image] enum.
    fields: list[str] | None = image_fields("upload_image_from_url")

    @field_validator("imageUrl")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if value[:5].lower() == "data:":
            image_format(decode_data_uri(value), "the data URI's image")
        elif not re.match(r"^https://[^\s/]+", value, re.IGNORECASE):
            raise ValueError("must be an https:// URL or a data: URI")
        return value

    @field_validator("fileData")
    @classmethod
    def _decode_file(cls, value: bytes | str | None) -> bytes | None:
        if value is None or isinstance(value, bytes):
            content = value
        else:
            try:
                content = base64.b64decode(re.sub(r"\s+", "", value), validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(
                    "must be the file's bytes or base64 text; this is not valid base64"
                ) from None
        if content is not None:
            image_format(content, "the file")
        return content

    @model_validator(mode="after")
    def _one_source(self) -> UploadImageInputs:
        if (self.imageUrl is None) == (self.fileData is None):
            # "label|problem" lets the coercion name the field even for a whole-model check.
            raise ValueError("Image URL|give either Image URL or File Data (exactly one of them)")
        return self


class ImageIdInputs(Inputs):
    imageId: ResourceId = IdField("Image ID", IMAGE_ID_HELP, IMAGE_ID_EXAMPLE, "selectImage")


class GetImageInputs(ImageIdInputs):
    fields: list[str] | None = image_fields("get_image")


class UpdateImageInputs(ImageIdInputs):
    FORM_RULES = (AtLeastOne("imageName", "imageHidden", note="the change to make"),)

    imageName: str | None = Field(
        None, title="Image Name", description="A new name for the image.", examples=["Summer banner"]
    )
    imageHidden: bool | None = Field(None, title="Image Hidden", description=HIDDEN_HELP)
    fields: list[str] | None = image_fields("update_image")


class ListImagesInputs(list_inputs("get_images")):
    fields: list[str] | None = image_fields("get_images")


IMAGE_WIRE_NAMES = {"imageName": "name", "imageHidden": "hidden"}


def _file_name(name: str | None, fmt: str) -> str:
    """The multipart file name: the image's name (made safe) with the format's extension."""
    stem = re.sub(r"[^\w.\- ]+", "_", name or "").strip(" .") or "image"
    extensions = ("jpg", "jpeg") if fmt == "jpeg" else (fmt,)
    if stem.lower().rsplit(".", 1)[-1] in extensions and "." in stem:
        return stem
    return f"{stem}.{extensions[0]}"


def upload_image(ctx: Context, inputs: UploadImageInputs) -> Any:
    if inputs.imageUrl is not None:
        attrs = {"import_from_url": inputs.imageUrl, **attributes(inputs, IMAGE_WIRE_NAMES)}
        return ctx.client.request(
            "POST",
            "/api/images",
            params=read_params("upload_image_from_url", inputs, READS),
            json_body=resource("image", attrs),
            operation="upload_image_from_url",
        ).json()
    content = inputs.fileData
    assert isinstance(content, bytes)  # the validator decoded it
    fmt, mime = image_format(content, "the file")
    form: dict[str, str] = {}
    if inputs.imageName is not None:
        form["name"] = inputs.imageName
    if inputs.imageHidden is not None:
        form["hidden"] = "true" if inputs.imageHidden else "false"
    return ctx.client.request(
        "POST",
        "/api/image-upload",
        params=read_params("upload_image_from_file", inputs, READS),
        files={"file": (_file_name(inputs.imageName, fmt), content, mime)},
        data=form,
        operation="upload_image_from_file",
    ).json()


def get_image(ctx: Context, inputs: GetImageInputs) -> Any:
    return get_one(ctx, api_path("/api/images/{id}", id=inputs.imageId), "get_image", inputs, READS)


def update_image(ctx: Context, inputs: UpdateImageInputs) -> Any:
    attrs = attributes(inputs, IMAGE_WIRE_NAMES)
    if not attrs:
        raise input_error("Image Name", "give Image Name or Image Hidden (or both) to change")
    return ctx.client.request(
        "PATCH",
        api_path("/api/images/{id}", id=inputs.imageId),
        params=read_params("update_image", inputs, READS),
        json_body=resource("image", attrs, id=inputs.imageId),
        operation="update_image",
        idempotent=True,
    ).json()


def list_images(ctx: Context, inputs: ListImagesInputs) -> Any:
    return list_collection(ctx, "/api/images", "get_images", inputs, read_params("get_images", inputs, READS))


ACTIONS = (
    Action(
        key="uploadImage",
        label="Upload Image",
        description="Import an image from an https URL or data URI, or upload file bytes from a previous step. "
        "JPEG, PNG or GIF up to 5 MB, checked before sending. Klaviyo allows 100 URL imports a day.",
        inputs=UploadImageInputs,
        perform=upload_image,
        operations=("upload_image_from_url", "upload_image_from_file"),
    ),
    Action(
        key="getImage",
        label="Get Image",
        description="Get the image with the given image ID.",
        inputs=GetImageInputs,
        perform=get_image,
        operations=("get_image",),
        read_only=True,
        idempotent=True,
    ),
    Action(
        key="updateImage",
        label="Update Image",
        description="Rename or hide/unhide the image with the given image ID.",
        inputs=UpdateImageInputs,
        perform=update_image,
        operations=("update_image",),
        idempotent=True,
    ),
    Action(
        key="listImages",
        label="List Images",
        description="Get the images in the account: filter, sort, one page or all pages up to a cap.",
        inputs=ListImagesInputs,
        perform=list_images,
        operations=("get_images",),
        read_only=True,
        idempotent=True,
    ),
)
