"""selectTemplate: templates by name."""

from __future__ import annotations

from klaviyo_connector.context import Context
from klaviyo_connector.model import DataSource
from klaviyo_connector.picklist import PicklistInputs, named, options

TEMPLATE = named("/api/templates", "get_templates", "template")


def select_template(ctx: Context, inputs: PicklistInputs) -> list[dict[str, str]]:
    return options(ctx, inputs, TEMPLATE)


DATA_SOURCES = (
    DataSource(
        key="selectTemplate",
        label="Select Template",
        description="Select a template to use, by name.",
        inputs=PicklistInputs,
        perform=select_template,
        operations=("get_templates",),
    ),
)
