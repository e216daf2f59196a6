"""STAC datetimes: closed UTC intervals parsed from strings and dates, formatted for an API,
read from items."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd

#: A closed time interval in UTC; None is an open end.
TimeInterval = tuple[pd.Timestamp | None, pd.Timestamp | None]
DatetimeLike = (
    str | date | datetime | pd.Timestamp | Sequence[str | date | datetime | pd.Timestamp | None]
)

_PARTIAL_DATE = re.compile(r"\d{4}(-\d{2}(-\d{2})?)?")
_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def parse_datetime(value: DatetimeLike | None) -> TimeInterval:
    """A closed UTC interval from a STAC datetime string or Python dates.

    Accepts ``"2022-07-01/2022-07-31"`` (partial dates cover their whole year, month or day;
    ``..`` or an empty side is open), one date or datetime, or a ``(start, end)`` pair.
    """
    if value is None:
        return None, None
    if isinstance(value, str) and "/" in value:
        parts = value.split("/")
        if len(parts) != 2:
            raise ValueError(f"datetime {value!r} must be 'start/end' with one '/'")
        value = tuple(None if part.strip() in ("", "..") else part.strip() for part in parts)
    if isinstance(value, str | date | datetime | pd.Timestamp):
        return _instant_or_period(value)
    if isinstance(value, Sequence) and len(value) == 2:
        start = _instant_or_period(value[0])[0] if value[0] is not None else None
        end = _instant_or_period(value[1])[1] if value[1] is not None else None
        if start is not None and end is not None and start > end:
            raise ValueError(f"datetime interval starts after it ends: {start} > {end}")
        return start, end
    raise ValueError(
        f"datetime must be 'start/end', a date, a datetime or a (start, end) pair, got {value!r}"
    )


def _instant_or_period(value: str | date | datetime | pd.Timestamp) -> TimeInterval:
    try:
        if isinstance(value, str) and _PARTIAL_DATE.fullmatch(value):
            period = pd.Period(value)
            return _utc(period.start_time), _utc(period.end_time)
        if isinstance(value, str) and not _ISO_DATETIME.match(value):
            raise ValueError("not ISO 8601 (e.g. 2022-07-01 or 2022-07-01T10:30:00Z)")
        if isinstance(value, date) and not isinstance(value, datetime):
            period = pd.Period(value, freq="D")
            return _utc(period.start_time), _utc(period.end_time)
        instant = _utc(pd.Timestamp(value))
    except (ValueError, TypeError) as err:
        raise ValueError(f"cannot read {value!r} as a date or datetime: {err}") from None
    return instant, instant


def _utc(stamp: pd.Timestamp) -> pd.Timestamp:
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def format_interval(interval: TimeInterval) -> str | None:
    """The interval as an RFC 3339 STAC API ``datetime`` (``..`` for an open end)."""
    if interval == (None, None):
        return None
    return "/".join(
        ".." if end is None else end.strftime("%Y-%m-%dT%H:%M:%S.%fZ") for end in interval
    )


def item_interval(properties: dict[str, Any]) -> TimeInterval:
    """The interval of an item: its ``datetime``, else its start and end (None: open)."""
    if properties.get("datetime"):
        instant = _utc(pd.Timestamp(properties["datetime"]))
        return instant, instant
    start, end = properties.get("start_datetime"), properties.get("end_datetime")
    return (
        _utc(pd.Timestamp(start)) if start else None,
        _utc(pd.Timestamp(end)) if end else None,
    )
