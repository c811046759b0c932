"""Profile Added to List / Segment: each profile that joins a list or a segment, by ``joined_group_at``."""

from __future__ import annotations

from typing import Any

from klaviyo_connector.inputs import IdField
from klaviyo_connector.model import Trigger
from klaviyo_connector.polling import Expand, Feed, by_id
from klaviyo_connector.triggers.common import PollInputs, poller

LIST_OPERATION = "get_profiles_for_list"
SEGMENT_OPERATION = "get_profiles_for_segment"


class ListMemberInputs(PollInputs):
    listId: str = IdField("List ID", "The list to watch.", "RE83th", "selectList")


class SegmentMemberInputs(PollInputs):
    segmentId: str = IdField("Segment ID", "The segment to watch.", "WwKnkd", "selectSegment")


def list_feed(inputs: Any) -> Feed:
    return Feed(
        LIST_OPERATION,
        f"/api/lists/{inputs.listId}/profiles",
        "joined_group_at",
        joined(f"list:{inputs.listId}"),
    )


def segment_feed(inputs: Any) -> Feed:
    return Feed(
        SEGMENT_OPERATION,
        f"/api/segments/{inputs.segmentId}/profiles",
        "joined_group_at",
        joined(f"segment:{inputs.segmentId}"),
    )


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
