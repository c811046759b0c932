"""Connection declarations: how the component authenticates to Klaviyo."""

from klaviyo_connector.model import Connection, ConnectionField

API_KEY = Connection(
    key="apiKey",
    label="API Key",
    description="A Klaviyo private API key (starts with pk_), with the scopes your actions need.",
    fields=(
        ConnectionField("apiKey", "API Key", "Your private API key for Klaviyo (pk_...).", secret=True),
        ConnectionField(
            "baseUrl", "Base URL", "Klaviyo API host; change only for a proxy or the sandbox.", required=False
        ),
    ),
    module="klaviyo_connector.connections.api_key",
)

CONNECTIONS = (API_KEY,)
