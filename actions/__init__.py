"""Every curated action, one module per resource; each module exports ACTIONS."""

from klaviyo_connector.actions import (
    accounts,
    campaigns,
    events,
    flows,
    images,
    imports,
    lists,
    metrics,
    profiles,
    raw,
    reports,
    segments,
    subscriptions,
    templates,
)

ACTIONS = (
    *accounts.ACTIONS,
    *profiles.ACTIONS,
    *imports.ACTIONS,
    *lists.ACTIONS,
    *segments.ACTIONS,
    *subscriptions.ACTIONS,
    *campaigns.ACTIONS,
    *templates.ACTIONS,
    *images.ACTIONS,
    *reports.ACTIONS,
    *events.ACTIONS,
    *metrics.ACTIONS,
    *flows.ACTIONS,
    *raw.ACTIONS,
)
