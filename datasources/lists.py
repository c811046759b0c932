"""selectList: lists by name."""

from __future__ import annotations

from klaviyo_connector.context import Context
from klaviyo_connector.model import DataSource
from klaviyo_connector.picklist import PicklistInputs, named, options

LIST = named("/api/lists", "get_lists", "list")


def select_list(ctx: Context, inputs: PicklistInputs) -> list[dict[str, str]]:
    return options(ctx, inputs, LIST)


DATA_SOURCES = (
    DataSource(
        key="selectList",
        label="Select List",
        description="Select a list to use, by name.",
        inputs=PicklistInputs,
        perform=select_list,
        operations=("get_lists",),
    ),
)
