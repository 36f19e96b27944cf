from __future__ import annotations

import datetime as dt

import msgspec

from kith.pagination.page import Page

# An average is shown to two decimals (48.3333333333 reads as noise); sorts use the stored value.
AVERAGE_DECIMALS = 2


class Company(msgspec.Struct):
    """A company some live contacts work at (company_stats)."""

    name: str
    contacts: int
    avg_score: float
    last_interaction_at: dt.datetime | None
    messages_30d: int
    mentions_30d: int
    # messages_30d + mentions_30d: what "recent activity" sorts on.
    recent_activity: int

    def __post_init__(self) -> None:
        self.avg_score = round(self.avg_score, AVERAGE_DECIMALS)


class LastSyncRun(msgspec.Struct):
    id: int
    source: str
    status: str
    rows_seen: int
    rows_inserted: int
    rows_updated: int
    rows_failed: int
    created_at: dt.datetime
    finished_at: dt.datetime | None


class Dashboard(msgspec.Struct):
    contacts: int
    overdue_contacts: int
    # Birthdays from today to today + 7 days in the tenant's time zone (as GET /contacts/birthdays?within_days=7).
    upcoming_birthdays: int
    messages_7d: int
    messages_30d: int
    conversations_awaiting_reply: int
    top_companies: list[Company]
    last_sync_run: LastSyncRun | None
    as_of: dt.datetime | None


class DailyMentions(msgspec.Struct):
    day: dt.date
    mentions: int


class MentionSeries(msgspec.Struct):
    company: str
    days: int
    series: list[DailyMentions]
    as_of: dt.datetime | None


class DailyMessages(msgspec.Struct):
    day: dt.date
    messages: int
    sent: int
    received: int


class MessageSeries(msgspec.Struct):
    """The tenant's messages per day (its time zone), oldest day first; as of the view's refresh."""

    days: int
    series: list[DailyMessages]
    as_of: dt.datetime | None


class Tag(msgspec.Struct):
    """A tag on some live contacts (tag_stats)."""

    name: str
    contacts: int
    avg_score: float
    messages_30d: int

    def __post_init__(self) -> None:
        self.avg_score = round(self.avg_score, AVERAGE_DECIMALS)


class Mention(msgspec.Struct):
    id: int
    title: str
    link: str | None
    summary: str | None
    source: str
    published_at: dt.datetime | None
    companies: list[str]
    created_at: dt.datetime


CompanyPage = Page[Company]
TagPage = Page[Tag]
MentionPage = Page[Mention]
