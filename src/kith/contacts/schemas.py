from __future__ import annotations

import datetime as dt

import msgspec


class Contact(msgspec.Struct):
    id: int
    full_name: str
    emails: list[str]
    phones: list[str]
    company: str | None
    title: str | None
    tags: list[str]
    birthday: str | None  # YYYY-MM-DD, or --MM-DD when the year is unknown
    cadence_days: int | None
    links: list[str]
    notes: str | None
    score: float
    last_interaction_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ContactPage(msgspec.Struct):
    items: list[Contact]
    next_cursor: str | None
    prev_cursor: str | None
    as_of: dt.datetime | None
