"""Inputs every polling trigger shares, and the glue from a trigger's inputs to the shared cursor."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from klaviyo_connector import polling
from klaviyo_connector.context import Context
from klaviyo_connector.inputs import TIME_HELP, Inputs, UtcDatetime
from pydantic import Field

DEFAULT_MAX_RECORDS = 100
MAX_RECORDS_LIMIT = 1000


class PollInputs(Inputs):
    """Start From and Max Records Per Poll, after each trigger's own inputs."""

    since: UtcDatetime | None = Field(
        None,
        title="Start From",
        description="Return records from this time on at the first poll (a backfill). Empty: start from "
        "now, so only records that come after the first poll are returned. " + TIME_HELP,
        examples=["2026-05-01T09:00:00Z"],
    )
    maxRecords: int = Field(
        DEFAULT_MAX_RECORDS,
        title="Max Records Per Poll",
        ge=1,
        le=MAX_RECORDS_LIMIT,
        description="The most records one poll returns, oldest first; the rest come with the next poll.",
        examples=[DEFAULT_MAX_RECORDS],
    )


Poll = Callable[[Context, Any, Mapping[str, Any]], tuple[list[dict[str, Any]], dict[str, Any]]]


def poller(key: str, feed: Callable[[Any], polling.Feed]) -> Poll:
    """A trigger's ``poll(ctx, inputs, state)``: the feed its inputs name, read by the shared cursor."""

    def poll(
        ctx: Context, inputs: Any, state: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        return polling.poll(
            ctx, feed(inputs), trigger=key, state=state, max_records=inputs.maxRecords, since=inputs.since
        )

    return poll
