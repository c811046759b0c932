"""selectSegment: segments by name."""

from __future__ import annotations

from klaviyo_connector.context import Context
from klaviyo_connector.model import DataSource
from klaviyo_connector.picklist import PicklistInputs, named, options

SEGMENT = named("/api/segments", "get_segments", "segment")


def select_segment(ctx: Context, inputs: PicklistInputs) -> list[dict[str, str]]:
    return options(ctx, inputs, SEGMENT)


DATA_SOURCES = (
    DataSource(
        key="selectSegment",
        label="Select Segment",
        description="Select a segment to use, by name.",
        inputs=PicklistInputs,
        perform=select_segment,
        operations=("get_segments",),
    ),
)
