"""Request parameters every listing and resource shares."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from litestar.params import Parameter

from kith.pagination.cursor import MAX_CURSOR_LENGTH
from kith.pagination.page import MAX_LIMIT
from kith.problems import bad_request, in_words

Limit = Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description="Rows per page (1–200, default 50).")]
Cursor = Annotated[
    str | None,
    Parameter(min_length=1, max_length=MAX_CURSOR_LENGTH, description="Opaque cursor from a previous page."),
]
# Ids are bigint: anything outside is a 400, not a driver error.
ResourceId = Annotated[int, Parameter(ge=1, le=2**63 - 1)]

# Every time in a query string (before, after, since) takes the same forms: an RFC 3339 time, the same
# without an offset (UTC), or a date (its midnight, UTC). Taken as text and parsed by `parse_time`: a lax
# conversion would read the word `null` as no time at all.
TIME_PATTERN = in_words(
    r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}(:?\d{2})?)?)?$",
    "an RFC 3339 time (2026-01-31T12:00:00Z; without an offset, UTC) or a date (2026-01-31)",
)


def time_parameter(description: str) -> Parameter:
    return Parameter(pattern=TIME_PATTERN, max_length=40, description=description)


# Every time Kith stores lies between these, so a time beyond them is clamped to them: the answer is the same.
FIRST_MOMENT = dt.datetime.min.replace(tzinfo=dt.UTC)
LAST_MOMENT = dt.datetime.max.replace(tzinfo=dt.UTC)


def parse_time(name: str, value: str | None) -> dt.datetime | None:
    """The parameter's time in UTC (UTC too when it says no offset); a 400 problem when it is not one
    (2026-13-01). One whose offset takes it past year 1 or 9999 in UTC is clamped there."""
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise bad_request(f"{name} must be an RFC 3339 time (e.g. 2026-01-31T12:00:00Z), not {value!r}") from None
    return in_utc(moment) if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def in_utc(moment: dt.datetime) -> dt.datetime:
    """An aware time in UTC, clamped to the calendar Python (and so Kith's data) holds."""
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01T00:00+14:00, 9999-12-31T23:59-14:00
        return FIRST_MOMENT if moment.year == dt.MINYEAR else LAST_MOMENT
