"""New Profile: each profile created in the account (``GET /api/profiles`` by ``created``)."""

from __future__ import annotations

from typing import Any

from klaviyo_connector.model import Trigger
from klaviyo_connector.polling import Feed, by_id
from klaviyo_connector.triggers.common import PollInputs, poller

OPERATION = "get_profiles"


class NewProfileInputs(PollInputs):
    pass


def feed(_inputs: Any) -> Feed:
    return Feed(OPERATION, "/api/profiles", "created", by_id("created"))


TRIGGERS = (
    Trigger(
        key="newProfile",
        label="New Profile",
        description="Fires for each profile created in the account. Each record's data is the profile as "
        "Get Profile returns it; its key is the profile ID.",
        inputs=NewProfileInputs,
        kind="polling",
        operations=(OPERATION,),
        poll=poller("newProfile", feed),
    ),
)
