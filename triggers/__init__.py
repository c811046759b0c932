"""Every trigger, one module per family; each module exports TRIGGERS."""

from klaviyo_connector.triggers import campaigns, events, groups, profiles, subscriptions, webhooks

TRIGGERS = (
    *profiles.TRIGGERS,
    *groups.TRIGGERS,
    *events.TRIGGERS,
    *subscriptions.TRIGGERS,
    *campaigns.TRIGGERS,
    *webhooks.TRIGGERS,
)
