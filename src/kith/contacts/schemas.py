from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from kith.pagination.page import Page
from kith.problems import in_words

ShortText = Annotated[str, msgspec.Meta(max_length=500)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
# No spaces or control characters (spelled out: `\s` means different things to Python and to JSON Schema tools).
EMAIL_PATTERN = in_words(r"^[^@\x00-\x20\x7f]+@[^@\x00-\x20\x7f]+$", "an email address (name@domain, no spaces)")
Email = Annotated[str, msgspec.Meta(pattern=EMAIL_PATTERN, max_length=320)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Url = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
# `YYYY-MM-DD`, or `--MM-DD` when the year is unknown (as vCard writes it); a real date (no 2023-02-30;
# Feb 29 in leap years and without a year). The pattern is the whole check, so the schema says exactly it.
_MONTH_DAY = r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
_LEAP_YEAR = r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
BIRTHDAY_PATTERN = in_words(
    rf"^(?:(?:[0-9]{{3}}[1-9]|[0-9]{{2}}[1-9]0|[0-9][1-9]00|[1-9]000|-)-{_MONTH_DAY}|(?:{_LEAP_YEAR}|-)-02-29)$",
    "a date that exists, YYYY-MM-DD, or --MM-DD without a year",
)
Birthday = Annotated[str, msgspec.Meta(pattern=BIRTHDAY_PATTERN)]
Cadence = Annotated[int, msgspec.Meta(ge=1, le=3650)]


class FieldSource(msgspec.Struct, omit_defaults=True):
    """Where a value came from: `user` (set through the API) or an import source and its record, and when."""

    source: str
    at: dt.datetime
    record: str | None = None
    # A set's value the user took out: imports do not put it back.
    removed: bool = False


class ContactProvenance(msgspec.Struct, omit_defaults=True):
    """Each field's source; a set field's per value. A field without one has no value yet, or has
    had it since before provenance was kept (then the next import offering a value credits itself)."""

    full_name: FieldSource | None = None
    company: FieldSource | None = None
    title: FieldSource | None = None
    birthday: FieldSource | None = None
    notes: FieldSource | None = None
    emails: dict[str, FieldSource] = {}
    phones: dict[str, FieldSource] = {}
    tags: dict[str, FieldSource] = {}
    links: dict[str, FieldSource] = {}


class PostalAddress(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A postal address as address books split it (vCard ADR); empty parts are left out."""

    label: str | None = None  # home, work, or the user's own label
    po_box: str | None = None
    extended: str | None = None
    street: str | None = None
    locality: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


class RelatedPerson(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Someone the contact is related to, by name (vCard RELATED, Apple's X-ABRELATEDNAMES)."""

    name: str
    relation: str | None = None  # spouse, child, assistant, ... as the source labels it


class Contact(msgspec.Struct):
    id: int
    full_name: str
    emails: list[str]
    phones: list[str]
    company: str | None
    title: str | None
    tags: list[str]
    birthday: str | None
    cadence_days: int | None
    links: list[str]
    notes: str | None
    # Kept by imports (vCard NICKNAME, ORG units joined by " / ", ADR, related names); not written by the API.
    nickname: str | None
    department: str | None
    addresses: list[PostalAddress]
    related: list[RelatedPerson]
    score: float
    last_interaction_at: dt.datetime | None
    messages_30d: int
    messages_90d: int
    # When a follow-up is due: a cadence after the last interaction (or the creation); null without a cadence.
    follow_up_due_at: dt.datetime | None
    overdue: bool
    overdue_days: int | None  # whole days past follow_up_due_at, when overdue
    created_at: dt.datetime
    updated_at: dt.datetime


class ContactDetail(Contact, kw_only=True):
    """One contact (GET /contacts/{id}, and the answer to a write)."""

    # Only with `?include=provenance`.
    provenance: ContactProvenance | msgspec.UnsetType = msgspec.UNSET


class UpcomingBirthday(Contact):
    next_birthday: dt.date


ContactPage = Page[Contact]
BirthdayPage = Page[UpcomingBirthday]


class ContactCreate(msgspec.Struct, forbid_unknown_fields=True):
    full_name: Name
    emails: Annotated[list[Email], msgspec.Meta(max_length=50)] = []
    phones: Annotated[list[ShortText], msgspec.Meta(max_length=50)] = []
    company: ShortText | None = None
    title: ShortText | None = None
    tags: Annotated[list[Tag], msgspec.Meta(max_length=50)] = []
    birthday: Birthday | None = None
    cadence_days: Cadence | None = None
    links: Annotated[list[Url], msgspec.Meta(max_length=50)] = []
    notes: Annotated[str, msgspec.Meta(max_length=20_000)] | None = None


class ContactPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Only the fields present change; `null` clears a nullable field."""

    full_name: Name | msgspec.UnsetType = msgspec.UNSET
    emails: Annotated[list[Email], msgspec.Meta(max_length=50)] | msgspec.UnsetType = msgspec.UNSET
    phones: Annotated[list[ShortText], msgspec.Meta(max_length=50)] | msgspec.UnsetType = msgspec.UNSET
    company: ShortText | msgspec.UnsetType | None = msgspec.UNSET
    title: ShortText | msgspec.UnsetType | None = msgspec.UNSET
    tags: Annotated[list[Tag], msgspec.Meta(max_length=50)] | msgspec.UnsetType = msgspec.UNSET
    birthday: Birthday | msgspec.UnsetType | None = msgspec.UNSET
    cadence_days: Cadence | msgspec.UnsetType | None = msgspec.UNSET
    links: Annotated[list[Url], msgspec.Meta(max_length=50)] | msgspec.UnsetType = msgspec.UNSET
    notes: Annotated[str, msgspec.Meta(max_length=20000)] | msgspec.UnsetType | None = msgspec.UNSET
