"""Profile Added to List / Segment: each profile that joins a list or a segment, by ``joined_group_at``."""

from __future__ import annotations

from typing import Any

from klaviyo_connector.inputs import IdField
from klaviyo_connector.model import Trigger
from klaviyo_connector.paths import api_path
from klaviyo_connector.polling import Expand, Feed, by_id
from klaviyo_connector.triggers.common import PollInputs, poller

LIST_OPERATION = "get_profiles_for_list"
SEGMENT_OPERATION = "get_profiles_for_segment"


class ListMemberInputs(PollInputs):
    listId: str = IdField("List ID", "The list to watch.", "RE83th", "selectList")


class SegmentMemberInputs(PollInputs):
    segmentId: str = IdField("Segment ID", "The segment to watch.", "WwKnkd", "selectSegment")


def members_feed(group: str, operation: str, group_id: str) -> Feed:
    """The members of a list or segment (``group``), newest joins last; the id is one path segment."""
    path = api_path(f"/api/{group}s/{{id}}/profiles", id=group_id)
    return Feed(operation, path, "joined_group_at", joined(f"{group}:{group_id}"))


def list_feed(inputs: Any) -> Feed:
    return members_feed("list", LIST_OPERATION, inputs.listId)


def segment_feed(inputs: Any) -> Feed:
    return members_feed("segment", SEGMENT_OPERATION, inputs.segmentId)


def joined(group: str) -> Expand:
    # The key holds the join time: a profile removed and added again is a new addition.
    return by_id("joined_group_at", key=lambda resource, when: f"{group}:{resource.get('id')}:{when}")


_RECORD = (
    "Each record's data is the profile as Get Profile returns it, plus joined_group_at; its key is the "
    "{group} ID, the profile ID and the join time."
)

TRIGGERS = (
    Trigger(
        key="profileAddedToList",
        label="Profile Added to List",
        description="Fires for each profile added to a list (by any means: a form, an import, the API). "
        + _RECORD.format(group="list"),
        inputs=ListMemberInputs,
        kind="polling",
        operations=(LIST_OPERATION,),
        poll=poller("profileAddedToList", list_feed),
    ),
    Trigger(
        key="profileAddedToSegment",
        label="Profile Added to Segment",
        description="Fires for each profile that joins a segment when Klaviyo evaluates it. "
        + _RECORD.format(group="segment"),
        inputs=SegmentMemberInputs,
        kind="polling",
        operations=(SEGMENT_OPERATION,),
        poll=poller("profileAddedToSegment", segment_feed),
    ),
)
