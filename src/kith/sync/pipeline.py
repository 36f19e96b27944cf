"""The batch writer: each batch a source yields lands in one statement (one round trip, one transaction).

A batch is turned into column arrays (or, for the low-volume record kinds, a
JSON array) and handed to the record kind's statement in `kith.sync.queries`,
which also adds the batch's counts and record errors to the run. Records the
database would reject (a NUL character, an impossible birthday, an empty
name) are caught here first and reported like the source's own record errors,
so one bad record never fails its batch. The writer holds one batch at a time:
memory is bounded by the batch size, not the input.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import AsyncIterable, AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from kith.readmodels.refresh import release_session_lock
from kith.sync import queries
from kith.sync.sources.linkedin import normalize_linkedin_url
from kith.sync.sources.records import (
    EXCERPT_CHARS,
    ContactRecord,
    MentionRecord,
    MessageRecord,
    SourceBatch,
)

MAX_ERRORS_KEPT = 1000
_LINKEDIN_PROFILE = ("https://www.linkedin.com/in/", "https://www.linkedin.com/pub/")


@dataclass(frozen=True, slots=True)
class RunTarget:
    """Where a run's batches land."""

    tenant_id: int
    sync_run_id: int
    source: str  # stored on the rows (messages.source, mentions.source, …)
    key_kind: str | None = None  # contact_keys.kind of ContactRecord.external_id: 'vcard_uid', 'linkedin'


@dataclass(slots=True)
class Totals:
    batches: int = 0
    seen: int = 0
    inserted: int = 0
    updated: int = 0
    failed: int = 0
    contacts_created: int = 0
    errors_kept: int = field(default=0, repr=False)


def _clean(value: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL; mail bodies sometimes do.
    return value.replace("\x00", "") if value is not None and "\x00" in value else value


def _error_json(index: int, reason: str, excerpt: str) -> dict[str, Any]:
    return {"index": index, "reason": reason, "excerpt": excerpt[:EXCERPT_CHARS]}


# ---------------------------------------------------------------- per record kind


def _message_params(records: list[MessageRecord], target: RunTarget) -> tuple[list[Any], list[dict[str, Any]]]:
    columns: tuple[list[Any], ...] = ([], [], [], [], [], [], [], [], [])
    errors = []
    (external_id, thread_key, subject, body, sent_at, direction, address, name, channel) = columns
    for r in records:
        if r.sent_at.tzinfo is None or not r.external_id or not r.thread_key:
            errors.append(_error_json(r.source_index, "message without id, thread or time zone", r.external_id or ""))
            continue
        external_id.append(_clean(r.external_id))
        thread_key.append(_clean(r.thread_key))
        subject.append(_clean(r.subject))
        body.append(_clean(r.body))
        sent_at.append(r.sent_at)
        direction.append(r.direction)
        address.append(_clean(r.counterpart_email))
        name.append(_clean(r.counterpart_name))
        channel.append(r.channel)
    return [target.source, *columns], errors


def _valid_birthday(r: ContactRecord) -> bool:
    if r.birthday_month is None and r.birthday_day is None:
        return r.birthday_year is None
    if r.birthday_month is None or r.birthday_day is None or not 1 <= r.birthday_month <= 12:
        return False
    # Feb 29 without a year is a real birthday; with one, only in a leap year.
    year = r.birthday_year if r.birthday_year is not None else 2000
    return 1 <= year <= 9999 and 1 <= r.birthday_day <= calendar.monthrange(year, r.birthday_month)[1]


class _ContactRow(msgspec.Struct):
    ord: int
    full_name: str
    emails: list[str]
    phones: list[str]
    company: str | None
    title: str | None
    tags: list[str]
    links: list[str]
    birthday_month: int | None
    birthday_day: int | None
    birthday_year: int | None
    notes: str | None
    external_ids: dict[str, str]


def _contact_params(records: list[ContactRecord], target: RunTarget) -> tuple[list[Any], list[dict[str, Any]]]:
    """The records as a JSON array plus their keys; a record sharing a key with an earlier one is a duplicate."""
    rows: list[_ContactRow] = []
    key_ord: list[int] = []
    key_kinds: list[str] = []
    key_values: list[str] = []
    taken: set[tuple[str, str]] = set()
    errors = []
    key_kind = target.key_kind
    for r in records:
        full_name = (_clean(r.full_name) or "").strip()
        if not full_name:
            errors.append(_error_json(r.source_index, "contact without a name", ", ".join(r.emails)))
            continue
        if not _valid_birthday(r):
            errors.append(_error_json(r.source_index, "impossible birthday",
                                      f"{full_name}: {r.birthday_year}-{r.birthday_month}-{r.birthday_day}"))
            continue
        keys = [("email", e) for e in r.emails]
        if r.external_id and key_kind:
            keys.append((key_kind, r.external_id))
        # A LinkedIn profile among an address book's links matches that person's LinkedIn connection.
        keys += [("linkedin", url) for url in map(normalize_linkedin_url, r.links) if url and url.startswith(_LINKEDIN_PROFILE)]
        keys = list(dict.fromkeys(keys))
        if taken.intersection(keys):
            continue  # counted as skipped by the statement
        taken.update(keys)
        ord_ = len(rows)
        rows.append(_ContactRow(
            ord=ord_, full_name=full_name, emails=r.emails, phones=r.phones, company=_clean(r.company),
            title=_clean(r.title), tags=r.tags, links=r.links, birthday_month=r.birthday_month,
            birthday_day=r.birthday_day, birthday_year=r.birthday_year, notes=_clean(r.notes),
            external_ids={key_kind: r.external_id} if r.external_id and key_kind else {},
        ))
        for kind, value in keys:
            key_ord.append(ord_)
            key_kinds.append(kind)
            key_values.append(value)
    return [msgspec.json.encode(rows).decode(), key_ord, key_kinds, key_values], errors


class _MentionRow(msgspec.Struct):
    ord: int
    dedupe_key: str
    title: str
    link: str | None
    summary: str | None
    published_at: dt.datetime | None


def _mention_params(records: list[MentionRecord], target: RunTarget) -> tuple[list[Any], list[dict[str, Any]]]:
    rows: list[_MentionRow] = []
    keys: set[str] = set()
    errors = []
    for r in records:
        if not r.dedupe_key or not r.title:
            errors.append(_error_json(r.source_index, "news item without a key or title", r.link or ""))
            continue
        if r.dedupe_key in keys:
            continue  # ON CONFLICT DO UPDATE may touch a row once per statement; counted as skipped
        keys.add(r.dedupe_key)
        rows.append(_MentionRow(ord=len(rows), dedupe_key=_clean(r.dedupe_key), title=_clean(r.title),
                                link=_clean(r.link), summary=_clean(r.summary), published_at=r.published_at))
    return [target.source, msgspec.json.encode(rows).decode()], errors


# Record kind → its batch statement and the builder of that statement's parameters (and record errors).
_KINDS: dict[type, tuple[str, Callable[[list[Any], RunTarget], tuple[list[Any], list[dict[str, Any]]]]]] = {
    MessageRecord: (queries.MESSAGES_BATCH, _message_params),
    ContactRecord: (queries.CONTACTS_BATCH, _contact_params),
    MentionRecord: (queries.MENTIONS_BATCH, _mention_params),
}


# ---------------------------------------------------------------- the writer


@asynccontextmanager
async def run_session(conn: AsyncConnection, tenant_id: int) -> AsyncIterator[None]:
    """Set the run's connection up for its batches (the tenant's lock, plans, commits: see
    queries.START_RUN_SESSION), and back as it was for the next user of the connection
    (or closed, if that cannot be done)."""
    await conn.exec_driver_sql(queries.START_RUN_SESSION, (tenant_id,))
    try:
        yield
    finally:
        await release_session_lock(conn, queries.UNLOCK_TENANT, {"tenant_id": tenant_id}, reset=True)


async def write_batch(conn: AsyncConnection, target: RunTarget, batch: SourceBatch, totals: Totals) -> None:
    """Land one batch: one statement on an autocommit connection. Adds its counts to `totals`."""
    totals.batches += 1
    errors = [_error_json(e.source_index, e.reason, e.excerpt) for e in batch.errors]
    if batch.records:
        statement, build = _KINDS[type(batch.records[0])]
        params, invalid = build(batch.records, target)
        errors.extend(invalid)
    else:
        statement, params = None, []
    failed = len(errors)
    kept = errors[: max(0, MAX_ERRORS_KEPT - totals.errors_kept)]
    totals.errors_kept += len(kept)
    totals.seen += batch.seen
    totals.failed += failed
    common = (target.tenant_id, target.sync_run_id, batch.seen, failed, msgspec.json.encode(kept).decode())
    if statement is None:
        await conn.exec_driver_sql(queries.COUNT_ONLY_BATCH, common)
        return
    row = (await conn.exec_driver_sql(statement, (*common, *params))).one()
    totals.inserted += row.inserted
    totals.updated += row.updated
    totals.contacts_created += row.contacts_created


async def write_batches(
    conn: AsyncConnection,
    target: RunTarget,
    batches: AsyncIterable[SourceBatch],
    totals: Totals,
    progress: Callable[[Totals], None] | None = None,
) -> Totals:
    """Land every batch of a source, in order, one statement each; `totals` adds up as they land."""
    async for batch in batches:
        await write_batch(conn, target, batch, totals)
        if progress is not None:
            progress(totals)
    return totals
