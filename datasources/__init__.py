"""Every picklist data source; each module exports DATA_SOURCES."""

from klaviyo_connector.datasources import (
    accounts,
    audiences,
    campaigns,
    events,
    flows,
    images,
    lists,
    metrics,
    profiles,
    segments,
    tags,
    templates,
)

DATA_SOURCES = (
    *accounts.DATA_SOURCES,
    *campaigns.DATA_SOURCES,
    *events.DATA_SOURCES,
    *profiles.DATA_SOURCES,
    *templates.DATA_SOURCES,
    *lists.DATA_SOURCES,
    *segments.DATA_SOURCES,
    *images.DATA_SOURCES,
    *metrics.DATA_SOURCES,
    *flows.DATA_SOURCES,
    *tags.DATA_SOURCES,
    *audiences.DATA_SOURCES,
)
