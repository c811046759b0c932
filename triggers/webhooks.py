"""New Event (Instant): Klaviyo pushes events to the host's URL through a webhook subscription.

Set up creates the webhook (``POST /api/webhooks``: name, endpoint_url, secret_key and the chosen
topics), verify checks each delivery's signature and age (:mod:`klaviyo_connector.webhooks`) and
turns it into records, tear down deletes the webhook. Klaviyo's Webhooks API is only available to
Advanced KDP customers and Klaviyo app partners, and Klaviyo requires an https endpoint URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from klaviyo_connector import webhooks
from klaviyo_connector.context import Context
from klaviyo_connector.errors import KlaviyoError, input_error
from klaviyo_connector.inputs import Inputs
from klaviyo_connector.model import Trigger
from klaviyo_connector.paths import api_path
from klaviyo_connector.polling import parse_time
from pydantic import Field, StringConstraints

CREATE, DELETE = "create_webhook", "delete_webhook"
TOPIC_PATTERN = r"^event:[a-z0-9_.]+$"
Topic = Annotated[str, StringConstraints(pattern=TOPIC_PATTERN, max_length=200)]


class InstantEventInputs(Inputs):
    topics: list[Topic] = Field(
        title="Topics",
        min_length=1,
        description="The webhook topics to receive, e.g. event:klaviyo.placed_order; Get Webhook Topics "
        "lists the account's (one per metric).",
        examples=[["event:klaviyo.placed_order"]],
    )
    webhookName: str = Field(
        "klaviyo-connector trigger",
        title="Webhook Name",
        min_length=1,
        max_length=255,
        description="The webhook's name in Klaviyo.",
        examples=["Orders to my workflow"],
    )


def setup(ctx: Context, inputs: InstantEventInputs, endpoint_url: str, secret: str) -> dict[str, Any]:
    """Create the webhook; the state to keep is ``{"webhookId", "endpointUrl"}``."""
    body = {
        "data": {
            "type": "webhook",
            "attributes": {"name": inputs.webhookName, "endpoint_url": endpoint_url, "secret_key": secret},
            "relationships": {
                "webhook-topics": {"data": [{"type": "webhook-topic", "id": t} for t in inputs.topics]}
            },
        }
    }
    doc = ctx.client.request("POST", "/api/webhooks", json_body=body, operation=CREATE).json() or {}
    webhook_id = (doc.get("data") or {}).get("id")
    if not isinstance(webhook_id, str):
        raise KlaviyoError(
            "Klaviyo created the webhook but its answer has no ID.", code="unexpected_response"
        )
    return {"webhookId": webhook_id, "endpointUrl": endpoint_url}


def teardown(ctx: Context, inputs: InstantEventInputs, state: Mapping[str, Any]) -> None:
    """Delete the webhook the state names; one already gone (404) counts as deleted."""
    webhook_id = state.get("webhookId") if isinstance(state, Mapping) else None
    if not isinstance(webhook_id, str) or not webhook_id:
        raise input_error("State", 'must be what set up returned, {"webhookId": ...}')
    try:
        ctx.client.request(
            "DELETE", api_path("/api/webhooks/{id}", id=webhook_id), operation=DELETE, idempotent=True
        )
    except KlaviyoError as exc:
        if exc.status != 404:
            raise


def verify(
    inputs: InstantEventInputs,
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    now: float,
    window: float = webhooks.REPLAY_WINDOW,
) -> list[dict[str, Any]]:
    """The records of one delivery, after :func:`klaviyo_connector.webhooks.verify` accepts it.

    Each item of the delivery whose topic is one of the trigger's becomes ``{"key": external_id,
    "occurred_at", "topic", "data": <the event, as Get Event returns it>}``.
    """
    doc = webhooks.verify(body, headers, secret, now=now, window=window)
    wanted = set(inputs.topics)
    records: list[dict[str, Any]] = []
    for item in doc["data"]:
        if not isinstance(item, Mapping) or item.get("topic") not in wanted:
            continue
        payload = item.get("payload") if isinstance(item.get("payload"), Mapping) else {}
        event = payload.get("data") if isinstance(payload.get("data"), Mapping) else payload
        moment = parse_time((event.get("attributes") or {}).get("datetime"))
        records.append(
            {
                "key": str(item.get("external_id") or event.get("id")),
                "occurred_at": moment.isoformat() if moment else None,
                "topic": item.get("topic"),
                "data": dict(event),
            }
        )
    return records


TRIGGERS = (
    Trigger(
        key="instantEvent",
        label="New Event (Instant)",
        description="Fires as soon as Klaviyo records an event of the chosen webhook topics, through a "
        "Klaviyo webhook pointing at the host's URL. Needs the Webhooks API: only Advanced KDP customers "
        "and Klaviyo app partners have it. Each record's data is the event as Get Event returns it; its "
        "key is the delivery item's external_id.",
        inputs=InstantEventInputs,
        kind="webhook",
        operations=(CREATE, DELETE),
        setup=setup,
        verify=verify,
        teardown=teardown,
    ),
)
