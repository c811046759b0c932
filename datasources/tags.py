"""selectTag: tags by name."""

from __future__ import annotations

from klaviyo_connector.context import Context
from klaviyo_connector.model import DataSource
from klaviyo_connector.picklist import PicklistInputs, named, options

TAG = named("/api/tags", "get_tags", "tag")


def select_tag(ctx: Context, inputs: PicklistInputs) -> list[dict[str, str]]:
    return options(ctx, inputs, TAG)


DATA_SOURCES = (
    DataSource(
        key="selectTag",
        label="Select Tag",
        description="Select a tag to use, by name.",
        inputs=PicklistInputs,
        perform=select_tag,
        operations=("get_tags",),
    ),
)
