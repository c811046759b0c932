"""Reporting: ``POST /api/campaign-values-reports`` (campaign performance values).

The request is checked as the API checks it: statistics and group-bys from the spec's enums
(``campaign_id`` and ``campaign_message_id`` must be among the group-bys), a preset or custom
timeframe of at most a year, a required ``conversion_metric_id`` (not looked up: the sandbox
has no order data, so the conversion numbers below don't depend on it), and a filter of ANDed
``equals`` / ``contains-any`` (``contains-all`` for tags) conditions, one per attribute; the
connector's action checks the same rules (``klaviyo_connector.prose_rules``).

The sandbox sends nothing, so its numbers are synthetic: every campaign whose send time has
come and falls in the timeframe gets one row per message, with statistics derived
deterministically from the recipient count recorded at send time and a hash of the ids (the
same campaign always reports the same plausible values). Rates are fractions in [0, 1].
Timeframes are evaluated in UTC, the sandbox accounts' timezone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from ... import filters
from ... import prose_rules as rules
from ..context import Reply, RequestContext, Route, cursor_offset, encode_cursor
from ..errors import invalid
from ..filters import parse_strict
from . import campaigns

TYPE = "campaign-values-report"
PAGE_SIZE = 500


# -- timeframes ------------------------------------------------------------------------------


def _months_back(moment: datetime, months: int) -> datetime:
    month_index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(month_index, 12)
    day = min(moment.day, 28)  # every month has a 28th
    return moment.replace(year=year, month=month + 1, day=day)


def timeframe_window(key: str, now: datetime) -> tuple[datetime, datetime]:
    """``[start, end)`` of a preset timeframe at ``now`` (UTC)."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    week = today - timedelta(days=today.weekday())
    month = today.replace(day=1)
    year = month.replace(month=1)
    end = now + timedelta(microseconds=1)  # inclusive of "now"
    windows = {
        "today": (today, end),
        "yesterday": (today - timedelta(days=1), today),
        "this_week": (week, end),
        "last_week": (week - timedelta(days=7), week),
        "last_7_days": (now - timedelta(days=7), end),
        "last_30_days": (now - timedelta(days=30), end),
        "last_90_days": (now - timedelta(days=90), end),
        "last_365_days": (now - timedelta(days=365), end),
        "this_month": (month, end),
        "last_month": (_months_back(month, 1), month),
        "last_3_months": (_months_back(now, 3), end),
        "last_12_months": (_months_back(now, 12), end),
        "this_year": (year, end),
        "last_year": (year.replace(year=year.year - 1), year),
    }
    return windows[key]


def _timeframe(value: Any, now: datetime) -> tuple[datetime, datetime]:
    pointer = "/data/attributes/timeframe"
    if not isinstance(value, dict):
        raise invalid("'timeframe' must be an object with 'key' or 'start' and 'end'.", pointer=pointer)
    if "key" in value:
        if set(value) != {"key"}:
            raise invalid("A preset timeframe takes only 'key'.", pointer=pointer)
        presets = rules.report_enum("timeframe.key")
        if not isinstance(value["key"], str) or value["key"] not in presets:
            raise invalid(f"'key' must be one of {', '.join(presets)}.", pointer=f"{pointer}/key")
        return timeframe_window(value["key"], now)
    if set(value) != {"start", "end"}:
        raise invalid("A custom timeframe takes 'start' and 'end'.", pointer=pointer)
    bounds = []
    for name in ("start", "end"):
        parsed = filters.parse_datetime(value[name]) if isinstance(value[name], str) else None
        if parsed is None:
            raise invalid(f"'{name}' must be an ISO-8601 date-time.", pointer=f"{pointer}/{name}")
        bounds.append(parsed)
    start, end = bounds
    if end <= start:
        raise invalid("'end' must be after 'start'.", pointer=f"{pointer}/end")
    if end - start > rules.REPORT_MAX_TIMEFRAME:
        raise invalid("The timeframe can be at most one year long.", pointer=pointer)
    return start, end


# -- request checks --------------------------------------------------------------------------


def _string_list(value: Any, name: str) -> list[str]:
    """A non-empty list of the values the spec's enum for ``name`` allows, without repeats."""
    pointer = f"/data/attributes/{name}"
    allowed = rules.report_enum(f"{name}[]")
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise invalid(f"'{name}' must be a non-empty list of strings.", pointer=pointer)
    for item in value:
        if item not in allowed:
            raise invalid(
                f"'{item}' is not a valid value for '{name}'; allowed: {', '.join(allowed)}.", pointer=pointer
            )
    return list(dict.fromkeys(value))


Row = dict[str, Any]


def _filter(text: Any) -> Callable[[Row], bool]:
    """A predicate over a row's groupings (all values, tags as lists) from the report filter."""
    pointer = "/data/attributes/filter"
    if text is None:
        return lambda row: True
    if not isinstance(text, str):
        raise invalid("'filter' must be a string.", pointer=pointer)
    try:
        nodes = parse_strict(text, rules.REPORT_FILTERS, resource=TYPE)
    except filters.FilterError as exc:
        raise invalid(str(exc), pointer=pointer) from None
    conditions = filters.comparisons(nodes)
    seen: set[str] = set()
    for comp in conditions:
        if comp.field in seen:
            raise invalid(
                f"Only one filter per attribute is allowed ('{comp.field}' is repeated).", pointer=pointer
            )
        seen.add(comp.field)
        literals = [v.text for v in comp.value] if comp.is_list else [comp.value.text]
        if len(literals) > rules.REPORT_MAX_FILTER_ITEMS:
            raise invalid(
                f"At most {rules.REPORT_MAX_FILTER_ITEMS} items are allowed in a list filter.",
                pointer=pointer,
            )
        if comp.field == "send_channel" and any(v not in rules.REPORT_SEND_CHANNELS for v in literals):
            raise invalid(f"send_channel takes {', '.join(rules.REPORT_SEND_CHANNELS)}.", pointer=pointer)

    def keep(row: Row) -> bool:
        for comp in conditions:
            value = row[comp.field]
            have = value if isinstance(value, list) else [value]
            wanted = [v.text for v in comp.value] if comp.is_list else [comp.value.text]
            if comp.operator == "equals" and have != wanted:
                return False
            if comp.operator == "contains-any" and not any(w in have for w in wanted):
                return False
            if comp.operator == "contains-all" and not all(w in have for w in wanted):
                return False
        return True

    return keep


# -- synthetic statistics --------------------------------------------------------------------


def _ratio(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole else 0.0


def statistics(campaign_id: str, message_id: str, channel: str, recipients: int, body: str) -> dict[str, Any]:
    """Deterministic, plausible values for one sent message (see the module docstring)."""
    digest = hashlib.sha256(f"{campaign_id}:{message_id}".encode()).digest()

    def u(index: int) -> float:
        return digest[index] / 255

    r = recipients
    email = channel == "email"
    bounced = round(r * (0.002 + 0.01 * u(0))) if email else 0
    failed = 0 if email else round(r * 0.01 * u(1))
    delivered = r - bounced - failed
    opens_unique = round(delivered * (0.2 + 0.3 * u(2))) if email else 0
    opens = opens_unique + round(opens_unique * 0.5 * u(3))
    clicks_unique = round(delivered * (0.01 + 0.05 * u(4)))
    clicks = clicks_unique + round(clicks_unique * 0.3 * u(5))
    conversion_uniques = round(clicks_unique * (0.05 + 0.2 * u(6)))
    conversions = conversion_uniques + round(conversion_uniques * 0.2 * u(7))
    conversion_value = round(conversions * (20 + 80 * u(8)), 2)
    unsubscribe_uniques = round(delivered * 0.003 * u(9))
    spam_complaints = round(delivered * 0.0005 * u(10)) if email else 0
    segments = 0 if channel != "sms" else delivered * (1 + len(body) // 160)
    spend = round(segments * 0.01, 2)
    return {
        "recipients": r,
        "delivered": delivered,
        "delivery_rate": _ratio(delivered, r),
        "bounced": bounced,
        "bounce_rate": _ratio(bounced, r),
        "failed": failed,
        "failed_rate": _ratio(failed, r),
        "bounced_or_failed": bounced + failed,
        "bounced_or_failed_rate": _ratio(bounced + failed, r),
        "opens": opens,
        "opens_unique": opens_unique,
        "open_rate": _ratio(opens_unique, delivered),
        "clicks": clicks,
        "clicks_unique": clicks_unique,
        "click_rate": _ratio(clicks_unique, delivered),
        "click_to_open_rate": _ratio(clicks_unique, opens_unique),
        "conversions": conversions,
        "conversion_uniques": conversion_uniques,
        "conversion_rate": _ratio(conversion_uniques, delivered),
        "conversion_value": conversion_value,
        "average_order_value": round(conversion_value / conversions, 2) if conversions else 0.0,
        "revenue_per_recipient": round(conversion_value / r, 2) if r else 0.0,
        "unsubscribes": unsubscribe_uniques,
        "unsubscribe_uniques": unsubscribe_uniques,
        "unsubscribe_rate": _ratio(unsubscribe_uniques, delivered),
        "spam_complaints": spam_complaints,
        "spam_complaint_rate": _ratio(spam_complaints, delivered),
        "message_segment_count_sum": segments,
        "text_message_credit_usage_amount": segments,
        "text_message_spend": spend,
        "text_message_roi": round(conversion_value / spend, 2) if spend else 0.0,
    }


def _rows(ctx: RequestContext, start: datetime, end: datetime) -> list[tuple[Row, dict[str, Any]]]:
    """(all groupings, all statistics) per message of every campaign sent within [start, end)."""
    now = ctx.clock()
    out = []
    for campaign in ctx.store.list_resources(ctx.account_id, campaigns.TYPE):
        send = campaign.attributes.get("_send")
        if not send or send["start"] > now:
            continue
        if not start <= datetime.fromtimestamp(send["start"], tz=timezone.utc) < end:
            continue
        channel = str(campaign.attributes.get("channel"))
        tags = campaigns.tag_ids(ctx, campaign.id)
        tag_names = []
        for tag_id in tags:
            tag = ctx.store.get(ctx.account_id, "tag", tag_id)
            tag_names.append(tag.attributes.get("name") if tag else None)
        for message in campaigns.messages_of(ctx, campaign.id):
            content = message.attributes["definition"].get("content") or {}
            groupings: Row = {
                "campaign_id": campaign.id,
                "campaign_message_id": message.id,
                "campaign_message_name": message.attributes.get("label"),
                "group": None,
                "group_name": None,
                "send_channel": campaigns.REPORT_CHANNELS[channel],
                "tag_id": tags,
                "tag_name": tag_names,
                "text_message_format": "sms" if channel == "sms" else None,
                "variation": None,
                "variation_name": None,
            }
            stats = statistics(
                campaign.id, message.id, channel, send["recipients"], str(content.get("body") or "")
            )
            out.append((groupings, stats))
    return out


def query_campaign_values(ctx: RequestContext) -> Reply:
    data = ctx.resource_body(TYPE)
    attributes = data.get("attributes") or {}
    allowed = ("statistics", "timeframe", "conversion_metric_id", "group_by", "filter")
    for key in attributes:
        if key not in allowed:
            raise invalid(
                f"'{key}' is not a valid field for the resource '{TYPE}'.", pointer=f"/data/attributes/{key}"
            )
    for key in ("statistics", "timeframe", "conversion_metric_id"):
        if attributes.get(key) is None:
            raise invalid(
                f"'{key}' is a required field for the resource '{TYPE}'.", pointer=f"/data/attributes/{key}"
            )
    wanted = _string_list(attributes["statistics"], "statistics")
    now = datetime.fromtimestamp(ctx.clock(), tz=timezone.utc)
    start, end = _timeframe(attributes["timeframe"], now)
    metric = attributes["conversion_metric_id"]
    if not isinstance(metric, str) or not metric.strip():
        raise invalid(
            "'conversion_metric_id' must be a metric id.", pointer="/data/attributes/conversion_metric_id"
        )
    group_by = list(rules.REPORT_DEFAULT_GROUP_BY)
    if attributes.get("group_by") is not None:
        group_by = _string_list(attributes["group_by"], "group_by")
        missing = [name for name in rules.REPORT_REQUIRED_GROUP_BY if name not in group_by]
        if missing:
            raise invalid(
                f"'group_by' must include {' and '.join(rules.REPORT_REQUIRED_GROUP_BY)}.",
                pointer="/data/attributes/group_by",
            )
    keep = _filter(attributes.get("filter"))
    results = []
    for groupings, stats in _rows(ctx, start, end):
        if not keep(groupings):
            continue
        tag_dims = [name for name in ("tag_id", "tag_name") if name in group_by]
        # Grouping by a tag gives one row per tag of the campaign (one row with null when untagged).
        pairs = list(zip(groupings["tag_id"], groupings["tag_name"], strict=True)) or [(None, None)]
        for tag_id, tag_name in pairs if tag_dims else [(None, None)]:
            row = {name: groupings[name] for name in group_by if name not in ("tag_id", "tag_name")}
            if "tag_id" in group_by:
                row["tag_id"] = tag_id
            if "tag_name" in group_by:
                row["tag_name"] = tag_name
            results.append({"groupings": row, "statistics": {name: stats[name] for name in wanted}})
    offset = cursor_offset(ctx.arg("page_cursor"), parameter="page_cursor")
    page = results[offset : offset + PAGE_SIZE]
    links = {"self": ctx.url(ctx.request.full_path.rstrip("?"))}
    if offset + PAGE_SIZE < len(results):
        links["next"] = ctx.url(f"{ctx.request.path}?page_cursor={encode_cursor(offset + PAGE_SIZE)}")
    campaign_ids = list(dict.fromkeys(item["groupings"]["campaign_id"] for item in page))
    body = {
        "data": {
            "type": TYPE,
            "attributes": {"results": page},
            "relationships": {
                "campaigns": {"data": [{"type": campaigns.TYPE, "id": cid} for cid in campaign_ids]}
            },
        },
        "links": links,
    }
    return Reply(200, body)


ROUTES = [
    Route("POST", "/api/campaign-values-reports", query_campaign_values, "query_campaign_values"),
]
