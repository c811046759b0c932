"""Every curated action, one module per resource; each module exports ACTIONS."""

from klaviyo_connector.actions import accounts, profiles

ACTIONS = (*accounts.ACTIONS, *profiles.ACTIONS)
