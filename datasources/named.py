"""Picklists labelled by the resource's name: templates, lists, segments, images, metrics, flows, tags."""

from __future__ import annotations

from klaviyo_connector.context import Context
from klaviyo_connector.model import DataSource
from klaviyo_connector.picklist import PicklistInputs, Query, named, options

TEMPLATE = named("/api/templates", "get_templates", "template")
LIST = named("/api/lists", "get_lists", "list")
SEGMENT = named("/api/segments", "get_segments", "segment")
IMAGE = named("/api/images", "get_images", "image")
METRIC = named("/api/metrics", "get_metrics", "metric")
FLOW = named("/api/flows", "get_flows", "flow")
TAG = named("/api/tags", "get_tags", "tag")


def _by_name(noun: str, query: Query) -> DataSource:
    def perform(ctx: Context, inputs: PicklistInputs) -> list[dict[str, str]]:
        return options(ctx, inputs, query)

    article = "an" if noun[0] in "AEIOU" else "a"
    return DataSource(
        key=f"select{noun}",
        label=f"Select {noun}",
        description=f"Select {article} {noun.lower()} to use, by name.",
        inputs=PicklistInputs,
        perform=perform,
        operations=(query.operation,),
    )


DATA_SOURCES = tuple(
    _by_name(noun, query)
    for noun, query in (
        ("Template", TEMPLATE),
        ("List", LIST),
        ("Segment", SEGMENT),
        ("Image", IMAGE),
        ("Metric", METRIC),
        ("Flow", FLOW),
        ("Tag", TAG),
    )
)
