"""selectImage: images by name."""

from __future__ import annotations

from klaviyo_connector.context import Context
from klaviyo_connector.model import DataSource
from klaviyo_connector.picklist import PicklistInputs, named, options

IMAGE = named("/api/images", "get_images", "image")


def select_image(ctx: Context, inputs: PicklistInputs) -> list[dict[str, str]]:
    return options(ctx, inputs, IMAGE)


DATA_SOURCES = (
    DataSource(
        key="selectImage",
        label="Select Image",
        description="Select an image to use, by name.",
        inputs=PicklistInputs,
        perform=select_image,
        operations=("get_images",),
    ),
)
