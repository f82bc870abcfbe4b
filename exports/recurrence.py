"""When a scheduled export is due, and which users a changed-since run asks for.

Interface::

    next_occurrence(after, frequency=..., at=time(7, 0), zone="Europe/Paris",
                    weekday=0, day_of_month=1)  # the first occurrence strictly after `after`
    changed_since_query(source_query, field="updated_at", since=datetime)  # Lucene text

Occurrences are wall-clock times in the schedule's zone. On the night a clock jumps forward, a
time inside the gap runs the gap's length later (02:30 in Paris on the last Sunday of March
runs at 03:30 CEST); on the night it falls back, an ambiguous time runs once, at its first
occurrence. A monthly schedule on day 29, 30 or 31 runs on the month's last day when the month
is shorter.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAILY, WEEKLY, MONTHLY = "daily", "weekly", "monthly"


def _instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of wall-clock `at` on `day` in `zone`.

    fold=0: an ambiguous time is its first occurrence, and a time in a spring-forward gap is
    read with the offset before the jump, so it runs the gap's length later on the new clock."""
    return datetime.combine(day, at, tzinfo=zone).replace(fold=0).astimezone(UTC)


def _day_in_month(year: int, month: int, day_of_month: int) -> date:
    return date(year, month, min(day_of_month, calendar.monthrange(year, month)[1]))


def _candidate_days(start: date, frequency: str, weekday: int, day_of_month: int) -> list[date]:
    """Days on or after `start` (in the zone) the schedule runs on, enough to find the next."""
    if frequency == DAILY:
        return [start + timedelta(days=n) for n in range(3)]
    if frequency == WEEKLY:
        first = start + timedelta(days=(weekday - start.weekday()) % 7)
        return [first, first + timedelta(days=7)]
    if frequency == MONTHLY:
        days = []
        year, month = start.year, start.month
        for _ in range(3):
            days.append(_day_in_month(year, month, day_of_month))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return [day for day in days if day >= start]
    raise ValueError(f"Unknown frequency {frequency!r}")


def next_occurrence(
    after: datetime,
    *,
    frequency: str,
    at: time,
    zone: str,
    weekday: int = 0,
    day_of_month: int = 1,
) -> datetime:
    """The first occurrence strictly after `after` (an aware datetime), in UTC."""
    tz = ZoneInfo(zone)
    start = after.astimezone(tz).date() - timedelta(days=1)
    for day in _candidate_days(start, frequency, weekday, day_of_month):
        instant = _instant(day, at, tz)
        if instant > after:
            return instant
    raise AssertionError("no occurrence found")  # the candidate days always hold one


def lucene_instant(moment: datetime) -> str:
    """An instant as Auth0 stores dates (UTC, milliseconds, Z), quoted for a range bound."""
    text = (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )
    return f'"{text}"'


def changed_since_query(source_query: str, *, field: str, since: datetime) -> str:
    """The source's query narrowed to the users whose `field` (created_at or updated_at) is at
    or after `since`."""
    window = f"{field}:[{lucene_instant(since)} TO *]"
    return f"({source_query}) AND {window}" if source_query.strip() else window
