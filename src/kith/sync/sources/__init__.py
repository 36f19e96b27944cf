"""Import sources: parsers that turn an uploaded file into bounded batches of records.

Pure parsing, no database. Each reader is an async generator of
`SourceBatch[...]` (records, per-record errors, skipped and duplicate counts),
reads its input incrementally and keeps memory flat for any input size; each
raises `SourceFormatError` before yielding anything when the input is not the
format it claims.

    async for batch in read_vcards(stream, batch_size=DEFAULT_BATCH_SIZE):
        upsert(batch.records); keep(batch.errors); count(batch.skipped, batch.duplicates)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from kith.sync.sources._common import DEFAULT_BATCH_SIZE
from kith.sync.sources.bulk_mail import bulk_mail_reason
from kith.sync.sources.contacts_csv import read_contacts_csv
from kith.sync.sources.feeds import parse_feed_date, read_feed
from kith.sync.sources.linkedin import (
    LinkedInConnection,
    normalize_linkedin_url,
    parse_connected_on,
    parse_linkedin_json,
    read_linkedin_csv,
)
from kith.sync.sources.mbox import DEFAULT_SKIP_LABELS, normalize_subject, read_mbox
from kith.sync.sources.records import (
    ContactRecord,
    MentionRecord,
    MessageRecord,
    PostalAddress,
    Record,
    RecordError,
    RelatedPerson,
    SourceBatch,
    SourceFormatError,
)
from kith.sync.sources.vcard import read_vcards

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_SKIP_LABELS",
    "SOURCES",
    "ContactRecord",
    "LinkedInConnection",
    "MentionRecord",
    "MessageRecord",
    "PostalAddress",
    "Record",
    "RecordError",
    "RelatedPerson",
    "SourceBatch",
    "SourceFormatError",
    "SourceSpec",
    "bulk_mail_reason",
    "normalize_linkedin_url",
    "normalize_subject",
    "parse_connected_on",
    "parse_feed_date",
    "parse_linkedin_json",
    "read_contacts_csv",
    "read_feed",
    "read_linkedin_csv",
    "read_mbox",
    "read_vcards",
    "undated",
]


def _sent(record: MessageRecord) -> dt.datetime | None:
    return record.sent_at if record.sent_at.tzinfo is not None else None


def _connected(record: ContactRecord) -> dt.datetime | None:
    return dt.datetime.combine(record.connected_on, dt.time(), dt.UTC) if record.connected_on is not None else None


def _published(record: MentionRecord) -> dt.datetime | None:
    return record.published_at


def undated(record: Record) -> None:
    """A source whose records have no date (an address book)."""
    return None


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """Everything about one import source, in one place."""

    name: str
    title: str
    # Called as reader(binary stream, batch_size=…, **options) → AsyncIterator[SourceBatch[record_type]].
    reader: Callable[..., AsyncIterator[SourceBatch]]
    record_type: type[Record]
    # Keyword options the reader takes besides batch_size (`since`: it filters on its records' dates).
    options: tuple[str, ...]
    # When a record happened (sync_runs.until; what `since` filters on), or None.
    dated: Callable[[Any], dt.datetime | None]
    # contact_keys.kind of a ContactRecord's external_id (what a re-import matches on), or None.
    key_kind: str | None = None
    # A JSON-push parser: (items, since=, start_index=) → SourceBatch, or None.
    json_parser: Callable[..., SourceBatch] | None = None
    # The files of a zip archive (a Google Takeout export) the source reads, by name suffix.
    suffixes: tuple[str, ...] = ()


SOURCES: dict[str, SourceSpec] = {
    "vcard": SourceSpec(
        name="vcard",
        title="vCard file (Google Contacts, Apple Contacts)",
        reader=read_vcards,
        record_type=ContactRecord,
        options=(),
        dated=undated,
        key_kind="vcard_uid",
        suffixes=(".vcf", ".vcard"),
    ),
    "mbox": SourceSpec(
        name="mbox",
        title="mbox mailbox (Gmail Takeout)",
        reader=read_mbox,
        record_type=MessageRecord,
        options=("own_addresses", "since", "skip_bulk_mail"),
        dated=_sent,
        suffixes=(".mbox",),
    ),
    "linkedin": SourceSpec(
        name="linkedin",
        title="LinkedIn Connections.csv export, or a JSON push of connections",
        reader=read_linkedin_csv,
        record_type=ContactRecord,
        options=("since",),
        dated=_connected,
        key_kind="linkedin",
        json_parser=parse_linkedin_json,
        suffixes=("connections.csv",),
    ),
    "contacts_csv": SourceSpec(
        name="contacts_csv",
        title="contacts CSV export (Google Contacts, either layout; Outlook)",
        reader=read_contacts_csv,
        record_type=ContactRecord,
        options=(),
        dated=undated,
        suffixes=(".csv",),
    ),
    "rss": SourceSpec(
        name="rss",
        title="RSS 2.0 / RSS 1.0 / Atom feed file",
        reader=read_feed,
        record_type=MentionRecord,
        options=("since",),
        dated=_published,
        suffixes=(".xml", ".rss", ".atom"),
    ),
}
