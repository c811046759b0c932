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

OAUTH2 = Connection(
    key="oauth2",
    label="OAuth 2.0",
    description=(
        "A Klaviyo OAuth app (authorization code with PKCE). Tokens refresh by themselves; a rotated "
        "refresh token is handed back to the host before it is used."
    ),
    fields=(
        ConnectionField(
            "authorizeUrl",
            "Authorize URL",
            "Where the user approves the app.",
            required=False,
            default="https://www.klaviyo.com/oauth/authorize",
        ),
        ConnectionField(
            "tokenUrl",
            "Token URL",
            "Klaviyo's token endpoint (revocation uses /oauth/revoke on the same host).",
            required=False,
            default="https://a.klaviyo.com/oauth/token",
        ),
        ConnectionField("clientId", "Client ID", "The Client ID of your Klaviyo app (Manage apps)."),
        ConnectionField(
            "clientSecret", "Client secret", "The Client secret of your Klaviyo app.", secret=True
        ),
        ConnectionField(
            "scopes",
            "Scopes",
            "Space separated list of scopes. Leave empty to request every scope the component's actions "
            "need (computed from the catalog).",
            required=False,
        ),
        ConnectionField(
            "baseUrl", "Base URL", "Klaviyo API host; change only for a proxy or the sandbox.", required=False
        ),
    ),
    module="klaviyo_connector.connections.oauth2",
)

CONNECTIONS = (API_KEY, OAUTH2)
