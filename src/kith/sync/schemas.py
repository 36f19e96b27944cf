from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import msgspec

from kith.pagination.page import Page

SourceName = Literal["vcard", "mbox", "linkedin", "contacts_csv", "rss"]
RunStatus = Literal["queued", "running", "succeeded", "failed"]


class RecordError(msgspec.Struct):
    """An input record that could not be imported: its 0-based position, why, and a piece of it."""

    index: int
    reason: str
    excerpt: str


class SyncRun(msgspec.Struct):
    """One import of one source. Every record seen is inserted, updated, skipped or failed."""

    id: int
    source: str
    status: RunStatus
    since: dt.datetime | None
    until: dt.datetime | None  # when the newest record the run saw happened (sent, connected, published)
    rows_seen: int
    rows_inserted: int
    rows_updated: int
    rows_skipped: int
    rows_failed: int
    error: str | None
    # Per stage (sync, score, refresh): status, started_at, finished_at, duration_ms, …
    stages: dict[str, dict[str, Any]]
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    duration_ms: int | None
    created_at: dt.datetime


class SyncRunDetail(SyncRun):
    # The first 1,000 record errors of the run (rows_failed counts them all).
    errors: list[RecordError]


SyncRunPage = Page[SyncRun]


class RunOptions(msgspec.Struct, omit_defaults=True):
    """What a run was asked for besides its window (stored on sync_runs.options)."""

    # The user's own addresses: an mbox message from one of them is outgoing.
    own_addresses: list[str] = []
    # How the upload is encoded: the source's file format, or a JSON array of records.
    format: Literal["file", "json"] = "file"
    # Mail from lists and no-reply senders is skipped (the tenant's skip_bulk_mail, as the run starts).
    skip_bulk_mail: bool = True
    # The connection a connector's run syncs (kith.connectors); None for a file.
    connection_id: int | None = None
