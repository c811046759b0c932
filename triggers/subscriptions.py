"""New Subscriber: each profile that gives email or SMS marketing consent, optionally through a list."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from klaviyo_connector.model import Trigger
from klaviyo_connector.paths import api_path
from klaviyo_connector.polling import Candidate, Feed, parse_time, record
from klaviyo_connector.triggers.common import PollInputs, poller
from pydantic import Field

PROFILES = "get_profiles"
LIST_PROFILES = "get_profiles_for_list"
CHANNELS = {"email": ("email",), "sms": ("sms",), "any": ("email", "sms")}
SUBSCRIBED = "SUBSCRIBED"
# additional-fields[profile]=subscriptions: the consent of each channel comes with the profile.
PARAMS = {"additional-fields[profile]": "subscriptions"}


class NewSubscriberInputs(PollInputs):
    channel: Literal["email", "sms", "any"] = Field(
        "any",
        title="Channel",
        description="Marketing consent on which channel: email, sms, or any (a record for each).",
    )
    listId: str | None = Field(
        None,
        title="List ID",
        description="Only profiles that join this list subscribed (a sign-up form's list). Empty: consent "
        "given anywhere in the account.",
        examples=["RE83th"],
        min_length=1,
        json_schema_extra={"x-data-source": "selectList"},
    )


def consent(profile: Mapping[str, Any], channel: str) -> Mapping[str, Any]:
    subscriptions = (profile.get("attributes") or {}).get("subscriptions") or {}
    return ((subscriptions.get(channel) or {}).get("marketing")) or {}


def by_consent(
    channels: tuple[str, ...],
) -> Callable[[Mapping[str, Any], Mapping[str, Any]], Iterable[Candidate]]:
    """A record per channel subscribed, timed by its consent_timestamp (the profile's ``updated`` is
    the cursor: a consent is never later than the update that stored it)."""

    def expand(profile: Mapping[str, Any], _doc: Mapping[str, Any]) -> Iterable[Candidate]:
        for channel in channels:
            given = consent(profile, channel)
            moment = parse_time(given.get("consent_timestamp"))
            if given.get("consent") == SUBSCRIBED and moment is not None:
                key = f"{profile.get('id')}:{channel}:{moment.isoformat()}"
                yield record(key, moment, profile, channel=channel)

    return expand


def on_joining(list_id: str, channels: tuple[str, ...]) -> Callable[..., Iterable[Candidate]]:
    """A record per channel the member is subscribed on, timed by when it joined the list."""

    def expand(profile: Mapping[str, Any], _doc: Mapping[str, Any]) -> Iterable[Candidate]:
        moment = parse_time((profile.get("attributes") or {}).get("joined_group_at"))
        if moment is None:
            return
        for channel in channels:
            if consent(profile, channel).get("consent") == SUBSCRIBED:
                key = f"list:{list_id}:{profile.get('id')}:{channel}:{moment.isoformat()}"
                yield record(key, moment, profile, channel=channel)

    return expand


def feed(inputs: Any) -> Feed:
    channels = CHANNELS[inputs.channel]
    if inputs.listId:
        return Feed(
            LIST_PROFILES,
            api_path("/api/lists/{id}/profiles", id=inputs.listId),
            "joined_group_at",
            on_joining(inputs.listId, channels),
            params=PARAMS,
        )
    return Feed(PROFILES, "/api/profiles", "updated", by_consent(channels), params=PARAMS, same_time=False)


TRIGGERS = (
    Trigger(
        key="newSubscriber",
        label="New Subscriber",
        description="Fires when a profile gives email or SMS marketing consent. With a List ID, fires for "
        "each profile that joins that list subscribed (timed by the join); without, for each consent "
        "given in the account (timed by its consent_timestamp). Each record's data is the profile with "
        "its subscriptions, channel says which consent; the key is the profile ID, the channel and the time.",
        inputs=NewSubscriberInputs,
        kind="polling",
        operations=(PROFILES, LIST_PROFILES),
        poll=poller("newSubscriber", feed),
    ),
)
