"""selectMetric: metrics by name."""

from __future__ import annotations

from klaviyo_connector.context import Context
from klaviyo_connector.model import DataSource
from klaviyo_connector.picklist import PicklistInputs, named, options

METRIC = named("/api/metrics", "get_metrics", "metric")


def select_metric(ctx: Context, inputs: PicklistInputs) -> list[dict[str, str]]:
    return options(ctx, inputs, METRIC)


DATA_SOURCES = (
    DataSource(
        key="selectMetric",
        label="Select Metric",
        description="Select a metric to use, by name.",
        inputs=PicklistInputs,
        perform=select_metric,
        operations=("get_metrics",),
    ),
)
