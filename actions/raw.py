"""Raw Request: any Klaviyo API call, sent through the connector's own HTTP core.

The core adds the pinned revision, JSON:API content negotiation, the User-Agent and the
connection's authorization, applies the one retry policy and refuses every host but the
connection's. This module only turns the reference component's inputs into one
``KlaviyoClient.request`` call and its response into ``{data, status, headers, attempts}``.
Input keys are the reference component's, so flows built on it keep working.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import mimetypes
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Annotated, Any, Literal
from urllib.parse import urlencode, urlsplit

from klaviyo_connector import catalog
from klaviyo_connector.context import Context
from klaviyo_connector.errors import (
    REAUTH_REQUIRED,
    UPGRADE_NEEDED,
    USER_FIXABLE,
    KlaviyoError,
    from_response,
    input_error,
)
from klaviyo_connector.http import Response, encode_json, settle_outcome
from klaviyo_connector.inputs import (
    MAX_INPUT_DEPTH,
    TOO_DEEP,
    FormHint,
    Inputs,
    NotTogether,
    Requires,
    nesting_depth_exceeds,
)
from klaviyo_connector.model import Action
from klaviyo_connector.redact import MASK, redact, redact_headers
from klaviyo_connector.retry import SAFE_METHODS, RetryPolicy
from pydantic import Field, field_validator, model_validator
from urllib3.fields import RequestField
from urllib3.filepost import encode_multipart_formdata

log = logging.getLogger("klaviyo_connector.raw")

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
MAX_RETRIES = 10
MAX_TIMEOUT_MS = 600_000
RATE_LIMIT_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After")
# Set by the connection or by the HTTP client itself; a user value would be ignored or unsafe.
RESERVED_HEADERS = {
    "authorization": "comes from the connection and cannot be set here (turn on Exclude Authorization "
    "to send none)",
    "proxy-authorization": "is not allowed",
    "host": "is set from the connection's host",
    "content-length": "is computed from the body",
    "transfer-encoding": "is chosen by the HTTP client",
}
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_REVISION = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[A-Za-z0-9]+)?$")
_BASE64 = re.compile(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$")
_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[\w-]+=[^;,]*)*;base64,(?P<b64>.*)$", re.S)

KEY_VALUE_HELP = 'A list of {"key": ..., "value": ...} pairs, or an object of keys to values.'


class KeyValue(Inputs):
    """One key and its value."""

    FORM_LABEL = "Key-Value Pair"
    FORM_EXAMPLE = {"key": "page[size]", "value": "20"}

    key: str = Field(title="Key", min_length=1, examples=["page[size]"])
    value: Any = Field(None, title="Value", examples=["20"])


KeyValues = list[KeyValue] | dict[str, Any]


def pairs(value: KeyValues | None) -> list[tuple[str, Any]]:
    """A key-value input as ordered (key, value) pairs, whichever shape the host sent."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [(str(k), v) for k, v in value.items()]
    return [(kv.key, kv.value) for kv in value]


def text_value(value: Any) -> str:
    """A scalar input as wire text: booleans as true/false, objects as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def file_content(value: Any) -> tuple[bytes, str | None]:
    """One File Data value as bytes, plus the content type when the value names one.

    Accepts bytes, a Node-style ``{"type": "Buffer", "data": [...]}``, ``{"data": ...,
    "contentType": ...}``, a ``data:`` URL, base64 text, or (when it is not base64) plain text.
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value), None
    if isinstance(value, Mapping):
        if value.get("type") == "Buffer" and isinstance(value.get("data"), list):
            try:
                return bytes(value["data"]), None
            except (TypeError, ValueError):
                raise ValueError("a Buffer's data must be a list of byte values (0-255)") from None
        if "data" in value:
            content, ctype = file_content(value["data"])
            named = value.get("contentType") or value.get("content_type")
            return content, str(named) if named else ctype
        raise ValueError('an object value needs a "data" member (bytes or base64 text)')
    if isinstance(value, str):
        match = _DATA_URL.match(value)
        if match:
            try:
                return base64.b64decode(match["b64"], validate=True), match["mime"]
            except binascii.Error:
                raise ValueError("the data: URL does not hold valid base64") from None
        compact = value.replace("\r", "").replace("\n", "")  # base64 from files is often wrapped
        if compact and _BASE64.match(compact):
            return base64.b64decode(compact), None
        return value.encode("utf-8"), None
    raise ValueError(f"must be bytes, base64 text or text, not {type(value).__name__}")


class RawRequestInputs(Inputs):
    FORM_RULES = (NotTogether("data", "formData", "fileData"), Requires("fileDataFileNames", "fileData"))

    url: str = Field(
        title="URL",
        description="Input the path only (/api/accounts); the base URL (https://a.klaviyo.com, or the "
        "connection's Base URL) is already included. An absolute URL is accepted only on that same host.",
        examples=["/api/accounts"],
        min_length=1,
    )
    method: Method = Field(title="Method", description="The HTTP method to use.", examples=["GET"])
    data: Any = Field(
        None,
        title="Data",
        description="The HTTP body payload to send to the URL. Objects, arrays and JSON text are sent as "
        "JSON:API JSON; other text or bytes are sent as they are.",
        examples=[{"data": {"type": "list", "attributes": {"name": "VIP"}}}],
    )
    formData: KeyValues | None = Field(
        None,
        title="Form Data",
        description="The Form Data to be sent as a multipart form upload. " + KEY_VALUE_HELP,
        examples=[[{"key": "name", "value": "Spring banner"}]],
    )
    fileData: KeyValues | None = Field(
        None,
        title="File Data",
        description="File Data to be sent as a multipart form upload: bytes, base64 text (e.g. from a "
        "previous step), a data: URL, or text. " + KEY_VALUE_HELP,
        examples=[[{"key": "file", "value": "iVBORw0KGgo="}]],
    )
    fileDataFileNames: KeyValues | None = Field(
        None,
        title="File Data File Names",
        description="File names to apply to the file data inputs. Keys must match the file data keys "
        "above; a file without one is named after its key.",
        examples=[[{"key": "file", "value": "banner.png"}]],
    )
    queryParams: KeyValues | None = Field(
        None,
        title="Query Parameter",
        description="A list of query parameters to send with the request (the ?key1=value1&key2=value2 "
        "part). List values are sent comma-separated, as Klaviyo expects. " + KEY_VALUE_HELP,
        examples=[[{"key": "page[size]", "value": "20"}]],
    )
    headers: KeyValues | None = Field(
        None,
        title="Header",
        description="A list of headers to send with the request. Authorization comes from the connection. "
        + KEY_VALUE_HELP,
        examples=[[{"key": "X-Request-Source", "value": "my-flow"}]],
    )
    responseType: Literal["json", "text", "binary"] = Field(
        "json",
        title="Response Type",
        description="The type of data you expect in the response: json (parsed; falls back to text when "
        "the body is not JSON), text, or binary (returned as base64).",
    )
    timeout: float | None = Field(
        None,
        title="Timeout",
        description="The most milliseconds one attempt may take, from connecting to the last byte of the "
        "response (default: 10 s to connect, 60 s for each read, 120 s for the whole attempt). At most "
        "600000 (10 minutes).",
        examples=[2000],
        gt=0,
        le=MAX_TIMEOUT_MS,
    )
    excludeAuthorization: bool = Field(
        False,
        title="Exclude Authorization",
        description="Exclude the Authorization header from the request. Turn this on and include the "
        "company_id query parameter (your public key) when calling public endpoints (/client).",
    )
    maxRetries: int = Field(
        3,
        title="Max Retry Count",
        description="The maximum number of retries to attempt; 0 for no retries. 429s are always retried "
        "(after at least their Retry-After); 5xx, timeouts and connection errors for GET, HEAD, OPTIONS, "
        "PUT and DELETE, and for POST and PATCH only with Retry On All Errors.",
        ge=0,
        le=MAX_RETRIES,
    )
    retryDelayMS: int = Field(
        0,
        title="Retry Delay (ms)",
        description="The delay in milliseconds between retries when Use Exponential Backoff is off; the "
        "first backoff step when it is on (0 = 1 s). A Retry-After from Klaviyo is always waited at least.",
        ge=0,
    )
    retryAllErrors: bool = Field(
        False,
        title="Retry On All Errors",
        description="If true, retries every non-2xx response and network error, on any method including "
        "POST and PATCH. Otherwise only 429s, and 5xx and network errors on methods safe to repeat.",
    )
    useExponentialBackoff: bool = Field(
        True,
        title="Use Exponential Backoff",
        description="Double the wait after each retry (with jitter, capped per wait), starting from Retry "
        "Delay (ms) or 1 s.",
    )
    revision: Annotated[str, FormHint(pattern=_REVISION.pattern)] | None = Field(
        None,
        title="Revision",
        description="The Klaviyo API revision for this call, overriding the connector's pinned revision.",
        examples=["2026-07-15"],
    )
    debugRequest: bool = Field(
        False,
        title="Debug Request",
        description="Log a one-line summary of the request and response (credentials masked) to the "
        "klaviyo_connector.raw logger.",
    )
    maxTotalWait: float | None = Field(
        None,
        title="Max Total Wait",
        description="The most seconds to spend waiting between retries, all waits together (default 120). "
        "When the next wait would pass it, the last error is returned.",
        examples=[60],
        ge=0,
    )

    @field_validator("method", mode="before")
    @classmethod
    def _upper_method(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("responseType", mode="before")
    @classmethod
    def _response_type(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
            return "binary" if value == "arraybuffer" else value  # the reference's axios spelling
        return value

    @field_validator("revision")
    @classmethod
    def _revision(cls, value: str | None) -> str | None:
        if value is not None and not _REVISION.match(value):
            raise ValueError(f"must be a Klaviyo revision date such as 2026-07-15 (got {value!r})")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: KeyValues | None) -> KeyValues | None:
        for name, text in pairs(value):
            if not _TOKEN.match(name):
                raise ValueError(f"{name!r} is not a valid header name")
            reason = RESERVED_HEADERS.get(name.lower())
            if reason:
                raise ValueError(f"{name} {reason}")
            if text is None:
                continue
            wire = text_value(text)
            if any(c in wire for c in "\r\n\0"):
                raise ValueError(f"{name}: header values cannot contain line breaks")
            try:
                wire.encode("latin-1")
            except UnicodeEncodeError:
                raise ValueError(f"{name}: header values must be Latin-1 text") from None
        return value

    @field_validator("fileData")
    @classmethod
    def _files(cls, value: KeyValues | None) -> KeyValues | None:
        for key, content in pairs(value):
            try:
                file_content(content)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _body_kinds(self) -> RawRequestInputs:
        # "Label|problem" lets the coercion name the field for a model-level error.
        if self.data is not None and (self.formData or self.fileData):
            raise ValueError(
                "Data|cannot be combined with Form Data or File Data: send either a body (Data) or a "
                "multipart form (Form Data and File Data)"
            )
        files = {k for k, _ in pairs(self.fileData)}
        unknown = [k for k, _ in pairs(self.fileDataFileNames) if k not in files]
        if unknown:
            raise ValueError(
                f"File Data File Names|keys must match File Data keys; no file for {', '.join(unknown)}"
            )
        return self


# -- building the request ---------------------------------------------------------------------------


def plus_as_plus(url: str) -> str:
    """``url`` with each ``+`` of its query sent as ``%2B``: Klaviyo decodes a query as a form
    and would read a typed ``+`` (``jo+shop@example.com``) as a space."""
    head, sep, rest = url.partition("?")
    if not sep:
        return url
    query_part, hash_, fragment = rest.partition("#")
    return f"{head}?{query_part.replace('+', '%2B')}{hash_}{fragment}"


def query(inputs: RawRequestInputs) -> list[tuple[str, str]]:
    out = []
    for key, value in pairs(inputs.queryParams):
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            value = ",".join(text_value(v) for v in value)
        out.append((key, text_value(value)))
    return out


def multipart(inputs: RawRequestInputs) -> tuple[bytes, str]:
    """The multipart/form-data body and its Content-Type (with the boundary)."""
    names = {k: text_value(v) for k, v in pairs(inputs.fileDataFileNames)}
    fields = []
    for key, value in pairs(inputs.formData):
        field = RequestField(
            name=key, data=value if isinstance(value, bytes) else text_value("" if value is None else value)
        )
        field.make_multipart()
        fields.append(field)
    for key, value in pairs(inputs.fileData):
        content, ctype = file_content(value)
        filename = names.get(key) or key
        field = RequestField(name=key, data=content, filename=filename)
        field.make_multipart(
            content_type=ctype or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        )
        fields.append(field)
    return encode_multipart_formdata(fields)


def body(inputs: RawRequestInputs) -> tuple[Any, bytes | None, str | None]:
    """(JSON body, raw bytes, Content-Type of the raw bytes); JSON gets JSON:API's from the core."""
    if inputs.formData or inputs.fileData:
        return (None, *multipart(inputs))
    data = inputs.data
    if data is None:
        return None, None, None
    if isinstance(data, (bytes, bytearray)):
        return None, bytes(data), "application/octet-stream"
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError as exc:
            if data.lstrip()[:1] in ("{", "["):
                raise input_error("Data", f"is not valid JSON ({exc.msg} at position {exc.pos})") from None
            return None, data.encode("utf-8"), "text/plain; charset=utf-8"
        except RecursionError:
            raise input_error("Data", TOO_DEEP) from None
        if isinstance(data, (dict, list)) and nesting_depth_exceeds(data, MAX_INPUT_DEPTH - 1):
            raise input_error("Data", TOO_DEEP)  # the same limit as every other input
    return data, None, None


def retry_policy(inputs: RawRequestInputs, default: RetryPolicy) -> RetryPolicy:
    """The connection's policy with this call's retry inputs applied."""
    delay = inputs.retryDelayMS / 1000
    return replace(
        default,
        max_retries=inputs.maxRetries,
        exponential=inputs.useExponentialBackoff,
        base_delay=(delay or default.base_delay) if inputs.useExponentialBackoff else delay,
        retry_all_errors=inputs.retryAllErrors,
        max_total_wait=default.max_total_wait if inputs.maxTotalWait is None else inputs.maxTotalWait,
    )


# -- reading the response ---------------------------------------------------------------------------


def decode(resp: Response, response_type: str) -> Any:
    if response_type == "binary":
        return base64.b64encode(resp.content).decode("ascii")
    if response_type == "json":
        if not resp.content:
            return None
        try:
            return json.loads(resp.content)
        except ValueError:
            pass  # not JSON after all: hand back the text rather than fail a finished call
    return resp.text


def safe_headers(headers: Mapping[str, str], secrets: tuple[str, ...]) -> dict[str, str]:
    return {k: redact(v, secrets) for k, v in redact_headers(dict(headers)).items()}


def debug_summary(
    method: str,
    url: str,
    params: list[tuple[str, str]],
    header_names: list[str],
    size: int,
    outcome: str,
) -> str:
    parts = urlsplit(url)
    q = "&".join(p for p in (parts.query, urlencode(params)) if p)
    shown = [
        f"{n}={MASK}" if n.lower() == "authorization" else n for n in sorted(header_names, key=str.lower)
    ]
    return (
        f"rawRequest {method} {parts.path}{'?' + q if q else ''} headers=[{', '.join(shown)}] "
        f"body={size} B -> {outcome}"
    )


def raw_request(ctx: Context, inputs: RawRequestInputs) -> dict[str, Any]:
    client = ctx.client
    try:
        url = client.url_for(plus_as_plus(inputs.url))
    except KlaviyoError as exc:
        raise input_error("URL", exc.message) from None
    headers = {name: text_value(v) for name, v in pairs(inputs.headers) if v is not None}
    params = query(inputs)
    json_body, raw, content_type = body(inputs)
    given_type = [k for k in headers if k.lower() == "content-type"]
    # A multipart body's type carries its boundary, so it always wins; otherwise the user's does.
    if content_type and (content_type.startswith("multipart/") or not given_type):
        for k in given_type:
            del headers[k]
        headers["Content-Type"] = content_type
    path = urlsplit(url).path
    op = catalog.match(inputs.method, path)
    authorize = not inputs.excludeAuthorization
    secrets = client.secrets()

    def summary(outcome: str, sent: tuple[str, ...]) -> None:
        if inputs.debugRequest:
            names = list(sent) or [*headers, *(["Authorization"] if authorize else [])]
            size = (
                len(raw) if raw is not None else len(encode_json(json_body)) if json_body is not None else 0
            )
            log.info(redact(debug_summary(inputs.method, url, params, names, size, outcome), secrets))

    try:
        resp = client.request(
            inputs.method,
            url,
            params=params or None,
            json_body=json_body,
            data=raw,
            headers=headers,
            operation=op.id if op else None,
            retry=retry_policy(inputs, client.retry),
            timeout=inputs.timeout / 1000 if inputs.timeout else None,
            authorize=authorize,
            revision=inputs.revision,
            raise_for_status=False,
            expect_json=False,  # any body is handed back as it came (see Response Type)
        )
    except KlaviyoError as exc:
        summary(f"{exc.code or exc.error_class} after {exc.attempts or 1} attempt(s)", ())
        raise
    limits = " ".join(f"{h}={resp.headers[h]}" for h in RATE_LIMIT_HEADERS if h in resp.headers)
    summary(
        f"{resp.status} after {resp.attempts} attempt(s){' ' + limits if limits else ''}",
        resp.request_headers,
    )
    out = {
        "data": decode(resp, inputs.responseType),
        "status": resp.status,
        "headers": safe_headers(resp.headers, secrets),
        "attempts": resp.attempts,
    }
    if 200 <= resp.status < 300:
        if any(s.encode() in resp.content for s in secrets if s):
            out["data"] = json.loads(redact(json.dumps(out["data"]), secrets))
        return out
    err = from_response(
        resp.status,
        resp.headers,
        resp.content,
        method=inputs.method,
        path=path,
        scopes=op.scopes if op else (),
        limits=op.rate_limit.describe() if op and op.rate_limit else "",
    )
    if inputs.revision is not None and err.error_class == UPGRADE_NEEDED:
        # The revision was typed into this call, not pinned by the connector: the input must change.
        err.error_class = USER_FIXABLE
        err.message = f"Klaviyo does not accept revision {inputs.revision} (the Revision input) for {inputs.method} {path}."
        err.args = (err.message,)
    if not authorize and err.error_class == REAUTH_REQUIRED:
        # Sent without the key on purpose: the credential is fine, the Exclude Authorization input is not.
        err.error_class = USER_FIXABLE
        err.message = (
            f"Klaviyo needs authorization for {inputs.method} {path}, and Exclude Authorization sent it "
            "without the connection's key: turn Exclude Authorization off (it is for public client endpoints)."
        )
        err.args = (err.message,)
    err.data, err.headers, err.attempts = out["data"], out["headers"], resp.attempts
    if inputs.method not in SAFE_METHODS:  # a 5xx after a POST or PATCH: it may have been applied
        settle_outcome(err)
    raise err  # the runner scrubs every error before it leaves


ACTIONS = (
    Action(
        key="rawRequest",
        label="Raw Request",
        description="Send raw HTTP request to Klaviyo, with the connection's authorization, the pinned API "
        "revision and retries that respect Klaviyo's rate limits. Only the connection's Klaviyo host is "
        "ever called.",
        inputs=RawRequestInputs,
        perform=raw_request,
        operations=(),  # any operation: scopes and limits depend on the URL
        read_only=False,
        idempotent=False,
        destructive=True,  # it can call any endpoint, DELETE included
        output_schema={
            "title": "Raw response",
            "type": "object",
            "required": ["data", "status", "headers", "attempts"],
            "properties": {
                "data": {"description": "The response body: parsed JSON, text, or base64 (Response Type)."},
                "status": {"type": "integer", "description": "The final HTTP status."},
                "headers": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "The final response's headers, credentials masked.",
                },
                "attempts": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Requests made, retries included.",
                },
            },
        },
    ),
)
