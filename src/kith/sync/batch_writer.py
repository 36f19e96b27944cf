"""Writing a source's batches: each batch lands in one transaction, in a fixed number of statements.

Contacts and mentions are turned into a JSON array plus key arrays and handed
to their kind's one statement in `kith.sync.queries`. Messages, the bulk of any
import, take three: one finds which are stored already, one finds or creates
the contacts and conversations of the others, and a COPY writes them (the
fastest way into PostgreSQL; see queries.RESOLVE_MESSAGES). Each batch also
adds its counts and record errors to the run. Records the
database would reject (an impossible birthday, an empty name) are caught
here first and reported like the source's own record errors, and text it
cannot store (a NUL, a lone surrogate) is cleaned (kith.text.pg_text), so one
bad record never fails its batch. A plan's max_contacts caps the contacts a
batch creates (under the lock POST /contacts takes): a contact record beyond it
is that record's error, a message counterpart beyond it gets no contact (its
messages land; the run counts it in stages.sync.dropped), and a message lands at most
records.MAX_PARTICIPANTS participants (a broadcast's others are counted there too). The writer holds one batch at a time:
memory is bounded by the batch size, not the input. Each batch's transaction also writes the run's
checkpoint (Checkpoint): a run whose worker died resumes after its last landed batch, with its counts.
"""

from __future__ import annotations

import calendar
import contextlib
import datetime as dt
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

import asyncpg
import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from kith.config import get_settings
from kith.db.locks import release_session_lock, tenant_sync_key
from kith.identities import content_key, e164, field_ranks, profile_keys, value_identities
from kith.sync import queries
from kith.sync.companies import CompanyMatcher
from kith.sync.sources import undated
from kith.sync.sources.linkedin import normalize_linkedin_url
from kith.sync.sources.records import (
    BROADCAST_PARTICIPANTS,
    EXCERPT_CHARS,
    MAX_PARTICIPANTS,
    ContactRecord,
    MentionRecord,
    MessageRecord,
    PostalAddress,
    RelatedPerson,
    SourceBatch,
)
from kith.text import pg_text, pg_texts, refused_by_postgres

MAX_ERRORS_KEPT = 1000
S = TypeVar("S", PostalAddress, RelatedPerson)
_LINKEDIN_PROFILE = ("https://www.linkedin.com/in/", "https://www.linkedin.com/pub/")


@dataclass(frozen=True, slots=True)
class RunTarget:
    """Where a run's batches land (and, from its source's SourceSpec, how its records are keyed and dated)."""

    tenant_id: int
    sync_run_id: int
    source: str  # stored on the rows (messages.source, mentions.source, …)
    key_kind: str | None = None  # contact_keys.kind of ContactRecord.external_id: 'vcard_uid', 'linkedin'
    dated: Callable[[Any], dt.datetime | None] = undated  # when a record happened (sync_runs.until)
    # The plan's limit on live contacts as the run started (None: no limit): records beyond it create none.
    max_contacts: int | None = None
    # Records per batch the input is read in (None: batches come as the source gives them, a connector's):
    # a resumed run reads its input in the same batches, to skip those landed.
    batch_size: int | None = None


class Checkpoint(msgspec.Struct):
    """Where a run stands after its last landed batch (sync_runs.checkpoint), written in that batch's
    transaction: what a run claimed again after its worker died resumes from. The rows_* columns and
    `errors` hold the rest of its totals."""

    batch_size: int | None = None
    batches: int = 0
    newest: dt.datetime | None = None
    dropped: dict[str, int] = {}
    skipped: dict[str, int] = {}
    # Added by the batch statements themselves (queries._progress).
    contacts_created: int = 0
    counterparts_over_limit: int = 0


@dataclass(slots=True)
class Totals:
    batches: int = 0
    seen: int = 0
    inserted: int = 0
    updated: int = 0
    failed: int = 0
    contacts_created: int = 0
    # When the newest record seen happened (sync_runs.until): the end of the window the run covered.
    newest: dt.datetime | None = None
    # Values not imported, by property (a vCard's PHOTO): recorded on the run as stages.sync.dropped.
    dropped: dict[str, int] = field(default_factory=dict)
    # Message counterparts the plan's max_contacts left without a contact (also in stages.sync.dropped).
    counterparts_over_limit: int = 0
    # Items skipped, by the reason their source gave (bulk mail, ...): stages.sync.skipped.
    skipped_as: dict[str, int] = field(default_factory=dict)
    errors_kept: int = field(default=0, repr=False)
    # Built from the tenant's company names at the run's first news batch, then reused by the others.
    company_matcher: CompanyMatcher | None = field(default=None, repr=False)

    @classmethod
    def resumed(cls, claimed: Any) -> Totals:
        """The totals a claimed run resumes with (queries.CLAIM_RUN's row): those of its landed batches."""
        if claimed.checkpoint is None:
            return cls()
        checkpoint = msgspec.convert(claimed.checkpoint, Checkpoint)
        return cls(
            batches=checkpoint.batches,
            seen=claimed.rows_seen,
            inserted=claimed.rows_inserted,
            updated=claimed.rows_updated,
            failed=claimed.rows_failed,
            contacts_created=checkpoint.contacts_created,
            newest=checkpoint.newest,
            dropped=dict(checkpoint.dropped),
            counterparts_over_limit=checkpoint.counterparts_over_limit,
            skipped_as=dict(checkpoint.skipped),
            errors_kept=claimed.errors_kept,
        )

    def stage_counts(self) -> dict[str, Any]:
        """What stages.sync records of the run beside its status and timing."""
        dropped = dict(self.dropped)
        if self.counterparts_over_limit:
            dropped[COUNTERPARTS_OVER_LIMIT] = dropped.get(COUNTERPARTS_OVER_LIMIT, 0) + self.counterparts_over_limit
        return {
            "batches": self.batches,
            "contacts_created": self.contacts_created,
            "dropped": dropped,
            "skipped": self.skipped_as,
        }

    def checkpoint(self, target: RunTarget) -> str:
        """The run's checkpoint as the writer knows it (the batch statement adds what it creates)."""
        return msgspec.json.encode(
            Checkpoint(target.batch_size, self.batches, self.newest, self.dropped, self.skipped_as)
        ).decode()


class _Landed(NamedTuple):
    inserted: int = 0
    updated: int = 0
    contacts_created: int = 0


def _error_json(index: int, reason: str, excerpt: str) -> dict[str, Any]:
    # What an error quotes is the bad input itself: cleaned as a record would be, or the run could not land.
    return {"index": index, "reason": pg_text(reason), "excerpt": pg_text(excerpt[:EXCERPT_CHARS])}


# What a run records (stages.sync.dropped) for the counterparts of messages it could not make contacts.
COUNTERPARTS_OVER_LIMIT = "counterpart contacts beyond the plan's max_contacts"


async def _contact_room(driver: asyncpg.Connection, target: RunTarget) -> int | None:
    """How many contacts the batch may create (None: no limit). Called in the batch's transaction, it takes
    the tenant's contact lock (the one POST /contacts takes) when the plan has a limit, so nothing else
    creates contacts for the tenant until the batch commits."""
    if target.max_contacts is None:
        return None
    await driver.execute(queries.LOCK_TENANT_CONTACTS, target.tenant_id)
    return await driver.fetchval(queries.CONTACT_ROOM, target.tenant_id, target.max_contacts)


# ---------------------------------------------------------------- per record kind


_MESSAGE_TEXT = ("external_id", "thread_key", "subject", "body", "counterpart_email", "counterpart_name")


def _storable(r: MessageRecord) -> MessageRecord:
    changed: dict[str, Any] = {
        name: pg_text(value) for name in _MESSAGE_TEXT if (value := getattr(r, name)) and refused_by_postgres(value)
    }
    if any(refused_by_postgres(text) for person in r.participants for text in person if text):
        changed["participants"] = [(pg_text(address) or "", pg_text(name)) for address, name in r.participants]
    return msgspec.structs.replace(r, **changed) if changed else r


def _valid_messages(
    records: list[MessageRecord], target: RunTarget
) -> tuple[list[MessageRecord], list[dict[str, Any]]]:
    """The messages that can land (the first of each external id; a repeat is counted as skipped), and errors."""
    valid: dict[str, MessageRecord] = {}
    errors = []
    for r in map(_storable, records):
        if r.sent_at.tzinfo is None or not r.external_id or not r.thread_key:
            errors.append(_error_json(r.source_index, "message without id, thread or time zone", r.external_id or ""))
            continue
        valid.setdefault(r.external_id, r)
    return list(valid.values()), errors


def _addresses_and_threads(
    messages: list[MessageRecord],
) -> tuple[dict[tuple[str, str], str | None], dict[str, MessageRecord]]:
    """The messages' distinct counterparts and participants ((key kind, address) → the first display name
    given) and threads
    (thread key → its earliest message, whose subject and channel a new conversation takes)."""
    addresses: dict[tuple[str, str], str | None] = {}
    threads: dict[str, MessageRecord] = {}
    for r in messages:
        people = [(r.counterpart_email, r.counterpart_name)] if r.counterpart_email is not None else []
        for address, name in [*people, *r.participants]:
            if addresses.get((r.counterpart_kind, address)) is None:
                addresses[(r.counterpart_kind, address)] = name
        first = threads.get(r.thread_key)
        if first is None or r.sent_at < first.sent_at:
            threads[r.thread_key] = r
    return addresses, threads


def _participant_params(records: list[MessageRecord], addresses: list[tuple[str, str]]) -> list[list[Any]]:
    """RESOLVE_MESSAGES' $16..$20: one element per (message, other participant), positions 1-based."""
    where = {address: ord_ for ord_, address in enumerate(addresses, 1)}
    columns: list[list[Any]] = [[], [], [], [], []]
    for ord_, r in enumerate(records, 1):
        counterpart = where.get((r.counterpart_kind, r.counterpart_email)) if r.counterpart_email else None
        for address, _ in r.participants:
            for column, value in zip(
                columns, (ord_, where[(r.counterpart_kind, address)], counterpart, r.sent_at, r.direction), strict=True
            ):
                column.append(value)
    return columns


async def _land_messages(
    driver: asyncpg.Connection,
    target: RunTarget,
    records: list[MessageRecord],
    common: tuple[Any, ...],
    totals: Totals,
    checkpoint: str,
) -> _Landed:
    """Three statements in one transaction (see queries.RESOLVE_MESSAGES); the last a COPY."""
    if not records:
        await driver.execute(queries.COUNT_ONLY_BATCH, *common, checkpoint)
        return _Landed()
    async with driver.transaction():
        room = await _contact_room(driver, target)
        stored = await _fetch_planned(
            driver, queries.STORED_MESSAGES, target.tenant_id, [r.external_id for r in records], target.source
        )
        if stored[0]:
            known = set(stored[0])
            records = [r for ord_, r in enumerate(records, 1) if ord_ not in known]
        if not records:
            await driver.execute(queries.COUNT_ONLY_BATCH, *common, checkpoint)
            return _Landed()
        addresses, threads = _addresses_and_threads(records)
        participants = _participant_params(records, list(addresses))
        resolved = await _fetch_planned(
            driver,
            queries.RESOLVE_MESSAGES,
            *common,
            target.source,
            [address for _, address in addresses],
            list(addresses.values()),
            list(threads),
            [r.subject for r in threads.values()],
            [r.channel for r in threads.values()],
            len(records),
            room,
            checkpoint,
            [kind for kind, _ in addresses],
            *participants,
        )
        totals.counterparts_over_limit += resolved["contacts_over_limit"]
        contact_ids = dict(zip(addresses, resolved["contact_ids"], strict=False))
        conversation_ids = dict(zip(threads, resolved["conversation_ids"], strict=False))
        tenant_id, source = target.tenant_id, target.source
        # Ids drawn by the statement when the batch has participants (in order), else the table's default.
        ids: list[tuple[int, ...]] = [(i,) for i in resolved["message_ids"]] or [()] * len(records)
        await driver.copy_records_to_table(
            "messages",
            columns=("id", *queries.MESSAGE_COLUMNS) if resolved["message_ids"] else queries.MESSAGE_COLUMNS,
            records=[
                (
                    *message_id,
                    tenant_id,
                    conversation_ids[r.thread_key],
                    contact_ids.get((r.counterpart_kind, r.counterpart_email)),
                    r.channel,
                    r.direction,
                    r.sent_at,
                    r.subject,
                    r.body,
                    source,
                    r.external_id,
                )
                for message_id, r in zip(ids, records, strict=True)
            ],
        )
        return _Landed(inserted=len(records), contacts_created=resolved["contacts_created"])


def _storable_struct(value: S) -> S:
    """A struct of text fields with text PostgreSQL refuses cleaned (kith.text.pg_text)."""
    changed = {
        name: pg_text(text)
        for name in value.__struct_fields__
        if isinstance(text := getattr(value, name), str) and refused_by_postgres(text)
    }
    return msgspec.structs.replace(value, **changed) if changed else value


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
    nickname: str | None
    department: str | None
    addresses: list[PostalAddress]
    related: list[RelatedPerson]
    external_ids: dict[str, str]
    # The record's keys (contact_keys kind and value): what it is matched on.
    key_kinds: list[str]
    key_values: list[str]
    # Each email's, phone's and link's identity or null (contacts.identities: what duplicates are found on).
    email_ids: list[str | None]
    phone_ids: list[str | None]
    link_ids: list[str | None]
    # The record's identity within its source (its UID, else its first key): what its values are credited to.
    record: str
    source_index: int


def _contact_params(records: list[ContactRecord], target: RunTarget) -> tuple[list[Any], list[dict[str, Any]]]:
    """The records, with their keys, as a JSON array, then the source and the precedence its values are
    weighed by (kith.identities); a record sharing a key with an earlier one is a duplicate."""
    rows: list[_ContactRow] = []
    taken: set[tuple[str, str]] = set()
    errors = []
    key_kind = target.key_kind
    settings = get_settings().sync
    for r in records:
        full_name = (pg_text(r.full_name) or "").strip()
        if not full_name:
            errors.append(_error_json(r.source_index, "contact without a name", ", ".join(r.emails)))
            continue
        if not _valid_birthday(r):
            errors.append(
                _error_json(
                    r.source_index,
                    "impossible birthday",
                    f"{full_name}: {r.birthday_year}-{r.birthday_month}-{r.birthday_day}",
                )
            )
            continue
        emails = pg_texts(r.emails)
        keys = [("email", e) for e in emails]
        external_id = pg_text(r.external_id)
        if external_id and key_kind:
            keys.append((key_kind, external_id))
        # A LinkedIn profile among an address book's links matches that person's LinkedIn connection.
        links = pg_texts(r.links)
        keys += [
            ("linkedin", url) for url in map(normalize_linkedin_url, links) if url and url.startswith(_LINKEDIN_PROFILE)
        ]
        keys += profile_keys(links)  # a GitHub or X profile: what that connector's interactions find
        phones = pg_texts(r.phones)
        keys += [("phone", number) for number in (e164(p, settings.phone_region) for p in phones) if number]
        company = pg_text(r.company)
        if not keys:  # nothing names this person but the card itself (a company's card)
            keys.append(("content", content_key(target.source, full_name, company)))
        keys = list(dict.fromkeys(keys))
        if taken.intersection(keys):
            continue  # counted as skipped by the statement
        taken.update(keys)
        rows.append(
            _ContactRow(
                ord=len(rows),
                full_name=full_name,
                emails=emails,
                phones=phones,
                company=company,
                title=pg_text(r.title),
                tags=pg_texts(r.tags),
                links=links,
                birthday_month=r.birthday_month,
                birthday_day=r.birthday_day,
                birthday_year=r.birthday_year,
                notes=pg_text(r.notes),
                nickname=pg_text(r.nickname),
                department=pg_text(r.department),
                addresses=[_storable_struct(a) for a in r.addresses],
                related=[_storable_struct(p) for p in r.related],
                external_ids={key_kind: external_id} if external_id and key_kind else {},
                key_kinds=[kind for kind, _ in keys],
                key_values=[value for _, value in keys],
                email_ids=value_identities("emails", emails, settings.phone_region),
                phone_ids=value_identities("phones", phones, settings.phone_region),
                link_ids=value_identities("links", links, settings.phone_region),
                record=external_id if external_id and key_kind else keys[0][1],
                source_index=r.source_index,
            )
        )
    ranks = msgspec.json.encode(field_ranks(settings.field_precedence)).decode()
    return [msgspec.json.encode(rows).decode(), target.source, ranks], errors


class _MentionRow(msgspec.Struct):
    ord: int
    dedupe_key: str
    title: str
    link: str | None
    summary: str | None
    published_at: dt.datetime | None
    companies: list[str] = []


def _mention_params(records: list[MentionRecord], target: RunTarget) -> tuple[list[_MentionRow], list[dict[str, Any]]]:
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
        rows.append(
            _MentionRow(
                ord=len(rows),
                dedupe_key=pg_text(r.dedupe_key),
                title=pg_text(r.title),
                link=pg_text(r.link),
                summary=pg_text(r.summary),
                published_at=r.published_at,
            )
        )
    return rows, errors


async def _land_mentions(
    driver: asyncpg.Connection,
    target: RunTarget,
    rows: list[_MentionRow],
    common: tuple[Any, ...],
    totals: Totals,
    checkpoint: str,
) -> _Landed:
    """Name the companies each item mentions (the matcher is built once per run), then one statement."""
    if totals.company_matcher is None:
        names = await driver.fetch(queries.COMPANY_NAMES, target.tenant_id)
        totals.company_matcher = CompanyMatcher(r["name"] for r in names)
    for row in rows:
        row.companies = totals.company_matcher.find(row.title, row.summary)
    row = await _fetch_planned(
        driver, queries.MENTIONS_BATCH, *common, target.source, msgspec.json.encode(rows).decode(), checkpoint
    )
    return _Landed(row["inserted"], row["updated"], row["contacts_created"])


async def _fetch_planned(driver: asyncpg.Connection, statement: str, *params: Any) -> asyncpg.Record:
    """Run a batch statement prepared afresh: PostgreSQL then plans it for this batch's arrays and the
    tables' current sizes. A cached statement would get a generic plan after five runs, made for
    10-element arrays and the sizes of that moment; forcing custom plans on the whole connection
    instead would also re-plan every foreign-key check of every row the batch writes."""
    return await (await driver.prepare(statement)).fetchrow(*params)


async def _land_contacts(
    driver: asyncpg.Connection,
    target: RunTarget,
    params: list[Any],
    common: tuple[Any, ...],
    totals: Totals,
    checkpoint: str,
) -> _Landed:
    """One statement that reports its own counts (with the plan's contact lock first, when it has a limit)."""
    errors_room = max(0, MAX_ERRORS_KEPT - totals.errors_kept)
    reason = f"the plan allows {target.max_contacts} contacts"
    # Autocommit, one statement; a transaction only to hold the contact lock of a limited plan.
    async with driver.transaction() if target.max_contacts is not None else contextlib.nullcontext():
        room = await _contact_room(driver, target)
        row = await _fetch_planned(
            driver,
            queries.CONTACTS_BATCH,
            *common,
            params[0],
            room,
            reason,
            errors_room,
            EXCERPT_CHARS,
            *params[1:],
            checkpoint,
        )
    totals.failed += row["over_limit"]
    totals.errors_kept += min(row["over_limit"], errors_room)
    return _Landed(row["inserted"], row["updated"], row["contacts_created"])


class _RecordWriter(NamedTuple):
    """How records of one type land."""

    # (records, target) → (what `land` takes, record errors)
    validate: Callable[[list[Any], RunTarget], tuple[Any, list[dict[str, Any]]]]
    # (driver, target, what `validate` gave, common parameters, the run's totals, its checkpoint) → counts
    land: Callable[..., Awaitable[_Landed]]


_RECORD_WRITERS: dict[type, _RecordWriter] = {
    MessageRecord: _RecordWriter(_valid_messages, _land_messages),
    ContactRecord: _RecordWriter(_contact_params, _land_contacts),
    MentionRecord: _RecordWriter(_mention_params, _land_mentions),
}


# ---------------------------------------------------------------- the writer


@asynccontextmanager
async def run_session(conn: AsyncConnection, tenant_id: int) -> AsyncIterator[None]:
    """Set the run's connection up for its batches (the tenant's lock, commits: see
    queries.START_RUN_SESSION), and back as it was for the next user of the connection
    (or closed, if that cannot be done)."""
    key = tenant_sync_key(tenant_id)
    await conn.exec_driver_sql(queries.START_RUN_SESSION, (key,))
    try:
        yield
    finally:
        await release_session_lock(conn, key, reset=True)


def _broadcasts_capped(batch: SourceBatch) -> SourceBatch:
    """The batch with each message's participants cut to MAX_PARTICIPANTS (records.MAX_PARTICIPANTS: a
    broadcast's others create no contact and no participant row), those cut counted in its `dropped`."""
    over = sum(
        len(r.participants) - MAX_PARTICIPANTS
        for r in batch.records
        if isinstance(r, MessageRecord) and len(r.participants) > MAX_PARTICIPANTS
    )
    if not over:
        return batch
    records = [
        msgspec.structs.replace(r, participants=r.participants[:MAX_PARTICIPANTS])
        if isinstance(r, MessageRecord) and len(r.participants) > MAX_PARTICIPANTS
        else r
        for r in batch.records
    ]
    dropped = {**batch.dropped, BROADCAST_PARTICIPANTS: batch.dropped.get(BROADCAST_PARTICIPANTS, 0) + over}
    return msgspec.structs.replace(batch, records=records, dropped=dropped)


async def write_batch(conn: AsyncConnection, target: RunTarget, batch: SourceBatch, totals: Totals) -> None:
    """Land one batch, in one transaction, on the run's autocommit connection. Adds its counts to `totals`,
    and writes them and the run's checkpoint in that transaction."""
    totals.batches += 1
    batch = _broadcasts_capped(batch)
    errors = [_error_json(e.source_index, e.reason, e.excerpt) for e in batch.errors]
    kind = _RECORD_WRITERS[type(batch.records[0])] if batch.records else None
    if kind is not None:
        valid, invalid = kind.validate(batch.records, target)
        errors.extend(invalid)
        totals.newest = max(filter(None, [totals.newest, *map(target.dated, batch.records)]), default=None)
    failed = len(errors)
    kept = errors[: max(0, MAX_ERRORS_KEPT - totals.errors_kept)]
    totals.errors_kept += len(kept)
    totals.seen += batch.seen
    for name, count in batch.dropped.items():
        totals.dropped[name] = totals.dropped.get(name, 0) + count
    for reason, count in batch.skipped_as.items():
        totals.skipped_as[reason] = totals.skipped_as.get(reason, 0) + count
    totals.failed += failed
    common = (target.tenant_id, target.sync_run_id, batch.seen, failed, msgspec.json.encode(kept).decode())
    # The batch statements run on asyncpg itself: planned per batch (_fetch_planned), and COPY.
    driver = (await conn.get_raw_connection()).driver_connection
    checkpoint = totals.checkpoint(target)
    if kind is None:
        await driver.execute(queries.COUNT_ONLY_BATCH, *common, checkpoint)
        return
    landed = await kind.land(driver, target, valid, common, totals, checkpoint)
    totals.inserted += landed.inserted
    totals.updated += landed.updated
    totals.contacts_created += landed.contacts_created


async def write_batches(
    conn: AsyncConnection,
    target: RunTarget,
    batches: AsyncIterable[SourceBatch],
    totals: Totals,
    progress: Callable[[Totals], None] | None = None,
) -> Totals:
    """Land every batch of a source, in order, a transaction each; `totals` adds up as they land."""
    async for batch in batches:
        await write_batch(conn, target, batch, totals)
        if progress is not None:
            progress(totals)
    return totals
