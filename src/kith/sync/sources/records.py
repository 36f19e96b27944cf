"""What the import sources yield: msgspec Structs, grouped in bounded batches.

Every source (vCard, mbox, LinkedIn, RSS/Atom) is an async generator of
`SourceBatch` values. A batch accounts for at most `batch_size` consecutive
items of the input: the records parsed from them, the per-record errors, and
how many were skipped (outside the `since` window, or excluded by the source)
or dropped as duplicates of a recent record. Records are plain values with no
database identity; matching them to rows is the importer's job.

`source_index` is the 0-based position of the item in its input (the n-th
card, message, CSV data row or feed item), counting errors and skipped items.
"""

from __future__ import annotations

import datetime as dt
from typing import Generic, Literal, TypeVar

import msgspec

__all__ = [
    "BROADCAST_PARTICIPANTS",
    "EXCERPT_CHARS",
    "MAX_PARTICIPANTS",
    "ContactRecord",
    "MentionRecord",
    "MessageRecord",
    "PostalAddress",
    "Record",
    "RecordError",
    "RelatedPerson",
    "SourceBatch",
    "SourceFormatError",
]

EXCERPT_CHARS = 200

# A message with more people than this beside its contact is a broadcast (an announcement to a team, a
# mailing to a list written out in To): its first MAX_PARTICIPANTS participants, as the headers name them,
# land; the others create no contact and no participant row, and the run counts them in
# stages.sync.dropped (BROADCAST_PARTICIPANTS). One rule for every message source (mbox, Gmail): the
# writer applies it (kith.sync.batch_writer).
MAX_PARTICIPANTS = 50
BROADCAST_PARTICIPANTS = f"participants of a message beyond {MAX_PARTICIPANTS} (broadcast)"


class SourceFormatError(Exception):
    """The input is not the format it claims to be.

    Raised before the first batch is yielded, when the header or the first
    record proves it (a JSON file sent as vCard, HTML sent as a feed, ...).
    """


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
    """Someone a contact is related to, by name (vCard RELATED / Apple's X-ABRELATEDNAMES)."""

    name: str
    relation: str | None = None  # spouse, child, assistant, ... as the source labels it


class ContactRecord(msgspec.Struct, kw_only=True):
    """A person from an address book or a social network export."""

    full_name: str
    emails: list[str] = []  # lowercased, stripped, unique, in source order
    phones: list[str] = []
    company: str | None = None
    title: str | None = None
    tags: list[str] = []
    birthday_month: int | None = None
    birthday_day: int | None = None
    birthday_year: int | None = None  # None when the source does not know it
    links: list[str] = []
    notes: str | None = None
    nickname: str | None = None
    department: str | None = None  # the organization's units after the company, " / " between them
    addresses: list[PostalAddress] = []
    related: list[RelatedPerson] = []
    # vCard UID, or the normalized LinkedIn profile URL.
    external_id: str | None = None
    # LinkedIn's "Connected On"; None for other sources.
    connected_on: dt.date | None = None
    source_index: int


class MessageRecord(msgspec.Struct, kw_only=True):
    """One email, seen from the user's side."""

    external_id: str  # Message-ID without angle brackets, or "sha256:<hex>" of its content
    thread_key: str  # Message-ID of the thread's root (or "subject:<normalized subject>")
    subject: str | None
    body: str
    sent_at: dt.datetime  # aware, UTC
    direction: Literal["in", "out"]
    counterpart_email: str | None  # lowercased; None for a message to nobody but the user
    counterpart_name: str | None
    # The contact_keys kind counterpart_email is found by: an email (a new address becomes a contact), or
    # a connector's account ('github' login, 'x' handle) whose contact its source landed first (never created here).
    counterpart_kind: str = "email"
    channel: str = "email"
    # The other people the message is with, beside the counterpart (email, display name): a message to
    # two people, or one received with others in Cc, is on each one's timeline and counts for each.
    # Same key kind as the counterpart; never the counterpart itself, nor one of the user's addresses.
    # At most MAX_PARTICIPANTS of them land (the writer drops the rest of a broadcast's, and counts them).
    participants: list[tuple[str, str | None]] = []
    source_index: int


class MentionRecord(msgspec.Struct, kw_only=True):
    """One news item from an RSS or Atom feed."""

    dedupe_key: str
    title: str
    link: str | None
    summary: str | None  # plain text
    published_at: dt.datetime | None  # aware, UTC
    source_index: int


class RecordError(msgspec.Struct, kw_only=True):
    """An item of the input that could not become a record."""

    source_index: int
    reason: str
    excerpt: str  # at most EXCERPT_CHARS characters of the offending input


Record = ContactRecord | MessageRecord | MentionRecord
R = TypeVar("R", ContactRecord, MessageRecord, MentionRecord)


class SourceBatch(msgspec.Struct, Generic[R], kw_only=True):
    """A bounded slice of a source: `len(records) + len(errors) + skipped + duplicates <= batch_size`."""

    records: list[R] = []
    errors: list[RecordError] = []
    skipped: int = 0  # outside the `since` window, or excluded by the source (spam, drafts, bulk mail)
    # Of `skipped`, how many for each reason the source names (bulk mail, ...): said on the run.
    skipped_as: dict[str, int] = {}
    duplicates: int = 0  # same key as a record already yielded by this run (first one wins)
    # Values of imported records that Kith does not keep, by property (a vCard's PHOTO): said on the run.
    dropped: dict[str, int] = {}

    @property
    def seen(self) -> int:
        """How many input items this batch accounts for."""
        return len(self.records) + len(self.errors) + self.skipped + self.duplicates
