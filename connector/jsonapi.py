"""Building JSON:API request bodies and acknowledging bodiless responses."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from .http import Response, encode_json

T = TypeVar("T")


def wire_value(value: Any) -> Any:
    """Nested input models become their wire dicts (only members that were given)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_unset=True, by_alias=True)
    if isinstance(value, list):
        return [wire_value(v) for v in value]
    return value


def attributes(inputs: BaseModel, names: Mapping[str, str]) -> dict[str, Any]:
    """Map input fields to wire attribute names: omitted inputs are left out, null is kept.

    ``names`` maps input key -> wire name, e.g. {"firstName": "first_name"}.
    """
    given = inputs.model_fields_set
    return {wire: wire_value(getattr(inputs, key)) for key, wire in names.items() if key in given}


def resource(
    type_: str,
    attrs: Mapping[str, Any] | None = None,
    *,
    id: str | None = None,  # noqa: A002 - JSON:API's own member name
    relationships: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {"type": type_}
    if id is not None:
        data["id"] = id
    if attrs is not None:
        data["attributes"] = dict(attrs)
    if relationships:
        data["relationships"] = dict(relationships)
    if meta:
        data["meta"] = dict(meta)
    return {"data": data}


def relationship(type_: str, id: str) -> dict[str, Any]:  # noqa: A002
    return {"data": {"type": type_, "id": id}}


def acknowledgement(response: Response, accepted: str, **details: Any) -> dict[str, Any]:
    """What a 202/204 means, stated plainly, instead of an empty or invented body."""
    out: dict[str, Any] = {
        "accepted": accepted,
        "status": response.status,
        "asynchronous": response.status == 202,
    }
    doc = response.json() if response.content else None
    if isinstance(doc, dict) and isinstance(doc.get("data"), dict):
        out["job_id"] = doc["data"].get("id")
        out["job"] = doc["data"]
    out.update({k: v for k, v in details.items() if v is not None})
    return out


def batches(
    items: Sequence[T],
    max_count: int,
    *,
    max_bytes: int | None = None,
    overhead: int = 0,
    sizes: Sequence[int] | None = None,
) -> Iterator[tuple[int, list[T]]]:
    """Split ``items`` for bulk endpoints: ``(index of the first item, batch)`` pairs.

    Each batch holds at most ``max_count`` items and, with ``max_bytes``, encodes to at most
    that many bytes inside a body whose other parts take ``overhead`` bytes. An item that
    cannot fit even alone raises ValueError naming its index (check per-item limits first).
    ``sizes``: each item's encoded size in bytes, when the caller has it (else each is encoded).
    """
    start = 0
    batch: list[T] = []
    size = overhead
    for index, item in enumerate(items):
        if max_bytes is None:
            item_size = 0
        else:
            item_size = (sizes[index] if sizes is not None else len(encode_json(wire_value(item)))) + 1
        if batch and (len(batch) >= max_count or (max_bytes is not None and size + item_size > max_bytes)):
            yield start, batch
            start, batch, size = index, [], overhead
        if max_bytes is not None and overhead + item_size > max_bytes:
            raise ValueError(f"item {index} alone is larger than {max_bytes} bytes")
        batch.append(item)
        size += item_size
    if batch:
        yield start, batch
