"""selectFlow: flows by name."""

from __future__ import annotations

from klaviyo_connector.context import Context
from klaviyo_connector.model import DataSource
from klaviyo_connector.picklist import PicklistInputs, named, options

FLOW = named("/api/flows", "get_flows", "flow")


def select_flow(ctx: Context, inputs: PicklistInputs) -> list[dict[str, str]]:
    return options(ctx, inputs, FLOW)


DATA_SOURCES = (
    DataSource(
        key="selectFlow",
        label="Select Flow",
        description="Select a flow to use, by name.",
        inputs=PicklistInputs,
        perform=select_flow,
        operations=("get_flows",),
    ),
)
