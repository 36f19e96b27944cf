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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from kith.sync.sources._common import DEFAULT_BATCH_SIZE
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
    Record,
    RecordError,
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
    "Record",
    "RecordError",
    "SourceBatch",
    "SourceFormatError",
    "SourceSpec",
    "normalize_linkedin_url",
    "normalize_subject",
    "parse_connected_on",
    "parse_feed_date",
    "parse_linkedin_json",
    "read_feed",
    "read_linkedin_csv",
    "read_mbox",
    "read_vcards",
]


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """What one source reads and yields."""

    name: str
    title: str
    # Called as reader(input, **options) → AsyncIterator[SourceBatch[record_type]].
    reader: Callable[..., Any]
    # "binary": a binary stream (a path too, for mbox); "text": a text stream opened with newline="" (binary works too).
    input: Literal["binary", "text"]
    record_type: type
    media_types: tuple[str, ...]
    extensions: tuple[str, ...]
    # Keyword options the reader accepts besides batch_size.
    options: tuple[str, ...]
    # Whether `since` filters records (on which date).
    since_field: str | None
    # A JSON-push parser: (items, since=, start_index=) → SourceBatch, or None.
    json_parser: Callable[..., SourceBatch] | None = None


SOURCES: dict[str, SourceSpec] = {
    "vcard": SourceSpec(
        name="vcard",
        title="vCard file (Google Contacts, Apple Contacts)",
        reader=read_vcards,
        input="binary",
        record_type=ContactRecord,
        media_types=("text/vcard", "text/x-vcard", "text/directory"),
        extensions=(".vcf", ".vcard"),
        options=(),
        since_field=None,
    ),
    "mbox": SourceSpec(
        name="mbox",
        title="mbox mailbox (Gmail Takeout)",
        reader=read_mbox,
        input="binary",
        record_type=MessageRecord,
        media_types=("application/mbox",),
        extensions=(".mbox", ".mbx"),
        options=("own_addresses", "since", "skip_labels"),
        since_field="sent_at",
    ),
    "linkedin": SourceSpec(
        name="linkedin",
        title="LinkedIn Connections.csv export, or a JSON push of connections",
        reader=read_linkedin_csv,
        input="text",
        record_type=ContactRecord,
        media_types=("text/csv", "application/json"),
        extensions=(".csv",),
        options=("since",),
        since_field="connected_on",
        json_parser=parse_linkedin_json,
    ),
    "rss": SourceSpec(
        name="rss",
        title="RSS 2.0 / RSS 1.0 / Atom feed file",
        reader=read_feed,
        input="binary",
        record_type=MentionRecord,
        media_types=("application/rss+xml", "application/atom+xml", "application/xml", "text/xml"),
        extensions=(".rss", ".atom", ".xml"),
        options=("since",),
        since_field="published_at",
    ),
}
