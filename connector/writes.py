"""Creates that are safe to repeat: a lost answer is settled by the resource's natural key.

A create (POST) whose answer was lost (a 5xx after the write committed, a dropped connection,
a garbled 2xx) fails with class ``outcome_unknown``: a host that simply retried would make a
duplicate. Where Klaviyo offers a natural key (a list's name, a profile's email), the action
looks for a resource with that key created since the call began:

- found: it is the one this call created, and is returned as if the answer had arrived;
- none at all after Klaviyo answered (5xx): nothing was created, so the error becomes
  ``retryable``;
- none without an answer (timeout, dropped connection), or only one made before the call (the
  clocks may disagree): the error stays ``outcome_unknown``, saying what was checked.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import catalog
from .context import Context
from .errors import OUTCOME_UNKNOWN, RETRYABLE, KlaviyoError
from .filters import condition, render

# How far before the call a resource's creation time may be and still be this call's: the two
# clocks (this machine's and Klaviyo's) may disagree by this much.
CLOCK_SKEW = dt.timedelta(minutes=2)


def _always(_resource: Mapping[str, Any]) -> bool:
    return True


@dataclass(frozen=True)
class Lookup:
    """A filtered list request that finds what a create made: ``GET path?filter=...``.

    ``created`` names the attribute holding the creation time; ``same`` confirms a candidate
    (for filters that match more than the key, such as ``contains``); ``what`` says in words
    what was looked for ("a list named 'VIP'").
    """

    path: str
    operation: str
    filter: str
    what: str
    created: str = "created"
    same: Callable[[Mapping[str, Any]], bool] = field(default=_always)


def create_once(
    ctx: Context,
    path: str,
    body: Any,
    *,
    operation: str,
    lookup: Lookup,
    params: Mapping[str, Any] | None = None,
) -> Any:
    """POST ``body`` to ``path`` (with the query ``params``, e.g. sparse fieldsets); the created
    document, found by ``lookup`` if the answer was lost. Raises the create's KlaviyoError, its
    class settled as the module docstring says."""
    started = dt.datetime.fromtimestamp(time.time(), dt.timezone.utc)
    try:
        return ctx.client.request(
            "POST", path, params=params or None, json_body=body, operation=operation
        ).json()
    except KlaviyoError as err:
        if err.error_class != OUTCOME_UNKNOWN:
            raise
        try:
            found, older = _find(ctx, lookup, started - CLOCK_SKEW)
        except KlaviyoError:
            raise err from None  # the check itself failed: the outcome stays unknown
        what = lookup.what.removeprefix("a ")
        if found is not None:
            return {
                "data": found,
                "meta": {
                    "recovered": f"The answer to the create was lost ({err.code or err.status}); "
                    f"{lookup.what} created by this call was found and is returned."
                },
            }
        if older:
            # Clocks may disagree: one made "before" the call could still be this call's.
            err.message += f" A {what} made earlier exists; check whether this call made another."
        elif err.status is not None and err.status >= 500:  # Klaviyo answered: the write is over
            err.error_class = RETRYABLE
            err.message = err.message.split(" The request was sent,")[0] + (
                f" Checked: no {what} exists, so nothing was created and repeating it is safe."
            )
        else:
            err.message += f" A check found no {what} yet; it may still appear."
        err.args = (err.message,)
        raise err from None


def _find(ctx: Context, lookup: Lookup, since: dt.datetime) -> tuple[dict[str, Any] | None, bool]:
    """(the resource with the key made since ``since``, whether one made earlier exists)."""
    params = {"filter": lookup.filter, "sort": f"-{lookup.created}"}
    doc = ctx.client.request("GET", lookup.path, params=params, operation=lookup.operation).json() or {}
    older = False
    for resource in doc.get("data") or []:
        if not lookup.same(resource):
            continue
        created = _timestamp((resource.get("attributes") or {}).get(lookup.created))
        if created is not None and created >= since:
            return dict(resource), older
        older = True
    return None, older


def _timestamp(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def natural_key(
    kind: str,
    field: str,
    value: str,
    *,
    extra: tuple[tuple[str, str, Any], ...] = (),
    created: str = "created",
) -> Lookup:
    """The lookup for the ``kind`` ("list", "profile", ...) whose ``field`` is ``value``.

    The filter takes the form the list endpoint allows (from the catalog): ``equals`` with a
    single value or a list, else ``contains`` with each candidate confirmed exactly. ``extra``
    adds ``(operator, field, value)`` conditions an endpoint requires (a campaign's channel).
    """
    operation = f"get_{kind}s"
    conditions = [condition_for(operation, op, name, val) for op, name, val in extra]
    allowed = catalog.operation(operation).filters[field]
    conditions.append(
        condition_for(operation, "equals" if "equals" in allowed.operators else "contains", field, value)
    )
    return Lookup(
        path=f"/api/{kind}s",
        operation=operation,
        filter=render(conditions),
        what=f"a {kind} with {field.replace('_', ' ')} {value!r}",
        created=created,
        same=lambda resource: (resource.get("attributes") or {}).get(field) == value,
    )


def condition_for(operation: str, operator: str, field: str, value: Any) -> Any:
    """``operator(field, value)`` in the form ``operation`` takes it (from the catalog): a one-item
    list where the operator is allowed only with a list, as ``equals`` on a list's members."""
    spec = catalog.operation(operation).filters[field]
    as_list = operator not in spec.single_operators and operator in spec.list_operators
    return condition(operator, field, [value] if as_list else value)
