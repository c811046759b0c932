"""Every picklist data source; each module exports DATA_SOURCES."""

from klaviyo_connector.datasources import (
    accounts,
    audiences,
    campaigns,
    events,
    named,
    profiles,
)

DATA_SOURCES = (
    *accounts.DATA_SOURCES,
    *campaigns.DATA_SOURCES,
    *events.DATA_SOURCES,
    *profiles.DATA_SOURCES,
    *named.DATA_SOURCES,
    *audiences.DATA_SOURCES,
)
