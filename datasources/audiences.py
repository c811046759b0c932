"""selectAudience: lists and segments together, for a campaign's audiences (either kind fits)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from klaviyo_connector.context import Context
from klaviyo_connector.datasources.named import LIST, SEGMENT
from klaviyo_connector.model import DataSource
from klaviyo_connector.picklist import Included, PicklistInputs, by_name, options


def _kind(kind: str) -> Any:
    def label(item: Mapping[str, Any], included: Included) -> str:
        return f"{by_name(item, included)} ({kind})"

    return label


AUDIENCE_QUERIES = (replace(LIST, label=_kind("list")), replace(SEGMENT, label=_kind("segment")))


def select_audience(ctx: Context, inputs: PicklistInputs) -> list[dict[str, str]]:
    return options(ctx, inputs, *AUDIENCE_QUERIES)


DATA_SOURCES = (
    DataSource(
        key="selectAudience",
        label="Select Audience",
        description="Select a list or segment to send a campaign to (or to exclude), by name.",
        inputs=PicklistInputs,
        perform=select_audience,
        operations=("get_lists", "get_segments"),
    ),
)
