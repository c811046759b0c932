"""The component object the ``connector.components`` entry point names."""

from klaviyo_connector.connections import CONNECTIONS

from .model import Component
from .revision import REVISION
from .version import __version__

component = Component(
    key="klaviyo",
    label="Klaviyo",
    description=(
        "Klaviyo is an email and SMS marketing platform. Manage profiles, lists, segments, campaigns, "
        f"templates, images and events, or send any request to the Klaviyo API (revision {REVISION})."
    ),
    version=__version__,
    connections=CONNECTIONS,
    actions_ref="klaviyo_connector.actions:ACTIONS",
    data_sources_ref="klaviyo_connector.datasources:DATA_SOURCES",
    triggers_ref="klaviyo_connector.triggers:TRIGGERS",
    generated_ref="klaviyo_connector.actions.generated",
)
