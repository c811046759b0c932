"""Connection declarations: how the component authenticates to Klaviyo."""

from klaviyo_connector.model import Connection, ConnectionField

# Limits every connection may set; the HTTP client's defaults apply when they are left empty.
LIMITS = (
    ConnectionField(
        "requestTimeout",
        "Request Timeout (s)",
        "The most seconds one HTTP exchange may take, from connecting to the last byte (default 120).",
        required=False,
    ),
    ConnectionField(
        "actionTimeout",
        "Action Timeout (s)",
        "The most seconds one action run may take, every request, retry and wait included (default 300). "
        "Set it below your platform's own step timeout.",
        required=False,
    ),
    ConnectionField(
        "maxResponseBytes",
        "Max Response Size (bytes)",
        "The largest response body read, after decompression (default 33554432, 32 MiB).",
        required=False,
    ),
)

API_KEY = Connection(
    key="apiKey",
    label="API Key",
    description="A Klaviyo private API key (starts with pk_), with the scopes your actions need.",
    fields=(
        ConnectionField("apiKey", "API Key", "Your private API key for Klaviyo (pk_...).", secret=True),
        ConnectionField(
            "baseUrl", "Base URL", "Klaviyo API host; change only for a proxy or the sandbox.", required=False
        ),
        *LIMITS,
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
        *LIMITS,
    ),
    module="klaviyo_connector.connections.oauth2",
)

CONNECTIONS = (API_KEY, OAUTH2)
