"""metrics actions."""

from klaviyo_connector.model import Action

ACTIONS: tuple[Action, ...] = ()
