"""The batch pipeline against a real PostgreSQL: exact rows landed, idempotent re-import,
partial failures, the `since` window, statements per batch, company detection, run states."""

from __future__ import annotations

import datetime as dt
import io
import json
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from kith.identities import content_key, e164
from kith.jobqueue import names
from kith.jobqueue.outbox import send_job
from kith.sync import queries, receiving, running, service
from kith.sync.batch_writer import MAX_ERRORS_KEPT, RunTarget, Totals, write_batches
from kith.sync.schemas import RunOptions
from kith.sync.sources import (
    ContactRecord,
    MessageRecord,
    SourceBatch,
    read_feed,
    read_linkedin_csv,
    read_mbox,
    read_vcards,
)
from kith.sync.synthetic import synthetic_batches
from kith.sync.uploads import ChunkWriter

DATA = Path(__file__).resolve().parent.parent / "data"
OWN = ["me@gmail.com", "me.alias@example.org"]


async def queue_run(
    engine, tenant, source: str, *, since=None, options: RunOptions | None = None, upload: bytes | None = None
) -> int:
    async with AsyncSession(engine) as session, session.begin():
        run = await receiving.create_run(session, tenant.id, tenant.user_id, source, since, options or RunOptions())
        if upload is not None:
            writer = ChunkWriter(session, tenant.id, run.id)
            await writer.write(upload)
            await writer.close()
    return run.id


async def run_import(engine, tenant, source: str, data: bytes, *, since=None, own=OWN, batch_size=2000, json=False):
    """Queue a run with `data` stored as its upload, import it, then the rest of the chain (in-process)."""
    options = RunOptions(own_addresses=list(own), format="json" if json else "file")
    run_id = await queue_run(engine, tenant, source, since=since, options=options, upload=data)
    await running.execute_sync_run(engine, run_id, batch_size=batch_size)
    await send_job(engine, names.SCORE, sync_run_id=run_id)
    async with AsyncSession(engine) as session:
        return await service.get_run(session, tenant.id, run_id)


async def parsed(batches) -> SourceBatch:
    """What the source itself yields for the file: the expectation rows are checked against."""
    out = SourceBatch(records=[], errors=[])
    async for b in batches:
        out.records += b.records
        out.errors += b.errors
        out.skipped += b.skipped
        out.duplicates += b.duplicates
    return out


async def snapshot(conn: asyncpg.Connection, tenant_id: int) -> dict[str, list]:
    """Every row of the tenant with its xmin: equal snapshots mean nothing was written at all."""
    tables = ["contacts", "contact_keys", "conversations", "messages", "mentions"]
    return {
        t: [
            tuple(r)
            for r in await conn.fetch(f"SELECT xmin::text, * FROM {t} WHERE tenant_id = $1 ORDER BY id", tenant_id)
        ]
        for t in tables
    }


@asynccontextmanager
async def autocommit(engine):
    """A connection of the engine as the writer gets one: autocommit, each batch its own transaction."""
    async with engine.connect() as conn:
        yield await conn.execution_options(isolation_level="AUTOCOMMIT")


async def write_all(engine, target: RunTarget, batches) -> Totals:
    async with autocommit(engine) as conn:
        return await write_batches(conn, target, batches, Totals())


def assert_accounted(run) -> None:
    assert run.rows_seen == run.rows_inserted + run.rows_updated + run.rows_skipped + run.rows_failed


# ---------------------------------------------------------------- exact rows


async def test_vcard_rows_land_exactly(engine, conn, make_tenant):
    tenant = await make_tenant()
    data = (DATA / "contacts.vcf").read_bytes()
    expected = await parsed(read_vcards(io.BytesIO(data)))

    run = await run_import(engine, tenant, "vcard", data)

    assert run.status == "succeeded", run.error
    assert run.until is None  # an address book has no dates
    assert (run.rows_seen, run.rows_inserted, run.rows_updated, run.rows_failed) == (
        len(expected.records) + len(expected.errors),
        len(expected.records),
        0,
        len(expected.errors),
    )
    assert [(e.index, e.reason) for e in run.errors] == [(e.source_index, e.reason) for e in expected.errors]
    rows = await conn.fetch(
        """SELECT full_name, emails, phones, company, title, tags, links, notes, birthday_month, birthday_day,
                  birthday_year, external_ids, changed_at FROM contacts WHERE tenant_id = $1 ORDER BY id""",
        tenant.id,
    )
    assert [dict(r) for r in rows] == [
        {
            "full_name": r.full_name,
            "emails": r.emails,
            "phones": r.phones,
            "company": r.company,
            "title": r.title,
            "tags": r.tags,
            "links": r.links,
            "notes": r.notes,
            "birthday_month": r.birthday_month,
            "birthday_day": r.birthday_day,
            "birthday_year": r.birthday_year,
            "external_ids": f'{{"vcard_uid": "{r.external_id}"}}' if r.external_id else "{}",
            "changed_at": None,
        }
        for r in expected.records
    ]
    # A Feb 29 birthday with and without a year, unicode names, a folded note.
    jane = await conn.fetchrow("SELECT * FROM contacts WHERE tenant_id = $1 AND full_name = 'Jane Doe'", tenant.id)
    assert (jane["birthday_month"], jane["birthday_day"], jane["birthday_year"]) == (2, 29, 1992)
    assert "folded by the exporter" in jane["notes"]
    assert (
        await conn.fetchval("SELECT count(*) FROM contacts WHERE tenant_id = $1 AND full_name LIKE 'Zoë%'", tenant.id)
        == 1
    )
    keys = await conn.fetch("SELECT kind, value FROM contact_keys WHERE tenant_id = $1", tenant.id)
    assert sorted((k["kind"], k["value"]) for k in keys) == sorted(
        [("email", e) for r in expected.records for e in r.emails]
        + [("vcard_uid", r.external_id) for r in expected.records if r.external_id]
        + [("linkedin", "https://www.linkedin.com/in/juergenmueller")]  # Jürgen's X-SOCIALPROFILE
        + [("phone", number) for r in expected.records for p in r.phones if (number := e164(p, "US"))]
    )
    # Every new contact was scored by the run (and none is marked as an API change).
    assert await conn.fetchval("SELECT count(*) FROM sync_run_contacts WHERE sync_run_id = $1", run.id) == len(rows)
    assert set(run.stages) == {"sync", "score", "refresh"}
    assert all(stage["status"] == "succeeded" for stage in run.stages.values())


async def test_mbox_rows_land_exactly(engine, conn, make_tenant):
    tenant = await make_tenant()
    data = (DATA / "takeout.mbox").read_bytes()
    expected = await parsed(read_mbox(io.BytesIO(data), own_addresses=OWN))

    run = await run_import(engine, tenant, "mbox", data)

    assert run.status == "succeeded", run.error
    assert run.rows_inserted == len(expected.records)
    assert run.rows_failed == len(expected.errors)
    assert run.rows_skipped == expected.skipped + expected.duplicates
    assert run.until == max(r.sent_at for r in expected.records)  # the newest message: where the window ends
    assert_accounted(run)
    rows = await conn.fetch(
        """SELECT m.external_id, m.direction, m.sent_at, m.subject, m.body, m.channel, c.external_id AS thread_key,
                  k.emails[1] AS counterpart, c.user_id
           FROM messages m JOIN conversations c ON c.id = m.conversation_id LEFT JOIN contacts k ON k.id = m.contact_id
           WHERE m.tenant_id = $1 ORDER BY m.external_id""",
        tenant.id,
    )
    assert [tuple(r)[:8] for r in rows] == sorted(
        (r.external_id, r.direction, r.sent_at, r.subject, r.body, r.channel, r.thread_key, r.counterpart_email)
        for r in expected.records
    )
    assert {r["user_id"] for r in rows} == {tenant.user_id}
    # One conversation per thread, one contact per counterpart, named from the mail.
    assert await conn.fetchval("SELECT count(*) FROM conversations WHERE tenant_id = $1", tenant.id) == len(
        {r.thread_key for r in expected.records}
    )
    contacts = await conn.fetch(
        "SELECT full_name, emails, last_interaction_at FROM contacts WHERE tenant_id = $1 ORDER BY id", tenant.id
    )
    addresses = {r.counterpart_email for r in expected.records if r.counterpart_email}
    assert {c["emails"][0] for c in contacts} == addresses
    alice = next(c for c in contacts if c["emails"] == ["alice@example.com"])
    assert alice["last_interaction_at"] == max(
        r.sent_at for r in expected.records if r.counterpart_email == "alice@example.com"
    )


async def test_linkedin_matches_existing_contacts_by_key(engine, conn, make_tenant):
    tenant = await make_tenant()
    await run_import(engine, tenant, "vcard", (DATA / "contacts.vcf").read_bytes())
    before = await conn.fetchval("SELECT count(*) FROM contacts WHERE tenant_id = $1", tenant.id)
    data = (DATA / "Connections.csv").read_bytes()
    expected = await parsed(read_linkedin_csv(io.BytesIO(data)))

    run = await run_import(engine, tenant, "linkedin", data)

    matched = [r for r in expected.records if set(r.emails) & {"jane.doe@example.com", "zoe@example.org"}]
    assert (run.rows_updated, run.rows_inserted) == (len(matched), len(expected.records) - len(matched))
    assert (
        await conn.fetchval("SELECT count(*) FROM contacts WHERE tenant_id = $1", tenant.id)
        == before + run.rows_inserted
    )
    jane = await conn.fetchrow(
        "SELECT * FROM contacts WHERE tenant_id = $1 AND 'jane.doe@example.com' = ANY(emails)", tenant.id
    )
    # Kept from the vCard, extended from LinkedIn: emails, phones, birthday, the profile as a link and a key.
    assert jane["emails"] == ["jane.doe@example.com", "jane@acme.example"]
    assert (jane["birthday_month"], jane["birthday_day"]) == (2, 29)
    assert "https://www.linkedin.com/in/jane-doe-1a2b3c" in jane["links"]
    assert (
        await conn.fetchval(
            "SELECT contact_id FROM contact_keys WHERE tenant_id = $1 AND kind = 'linkedin' AND value = $2",
            tenant.id,
            "https://www.linkedin.com/in/jane-doe-1a2b3c",
        )
        == jane["id"]
    )
    assert jane["changed_at"] is None


async def test_a_linkedin_profile_in_a_vcard_matches_the_connection(engine, conn, make_tenant):
    tenant = await make_tenant()
    card = (
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Grace Hopper\r\n"
        b"X-SOCIALPROFILE;type=linkedin:http://linkedin.com/in/Grace-Hopper/\r\nEND:VCARD\r\n"
    )
    await run_import(engine, tenant, "vcard", card)
    csv = (
        b"First Name,Last Name,URL,Email Address,Company,Position,Connected On\n"
        b"Grace,Hopper,https://www.linkedin.com/in/grace-hopper,,US Navy,Rear Admiral,01 Jan 2020\n"
    )
    run = await run_import(engine, tenant, "linkedin", csv)
    assert (run.rows_inserted, run.rows_updated) == (0, 1)
    assert await conn.fetchval("SELECT company FROM contacts WHERE tenant_id = $1", tenant.id) == "US Navy"


async def test_linkedin_json_push(engine, conn, make_tenant):
    tenant = await make_tenant()
    push = (
        b'[{"first_name": "Ada", "last_name": "Lovelace", "url": "linkedin.com/in/ada", "email_address": "ADA@x.org"},'
        b' {"first_name": 7}, {"first_name": "Ada", "url": "https://www.linkedin.com/in/ada/"}]'
    )
    run = await run_import(engine, tenant, "linkedin", push, json=True)
    assert (run.rows_seen, run.rows_inserted, run.rows_failed, run.rows_skipped) == (3, 1, 1, 1)
    assert run.errors[0].index == 1
    assert await conn.fetchval("SELECT emails FROM contacts WHERE tenant_id = $1", tenant.id) == ["ada@x.org"]


async def test_feed_mentions_name_known_companies(engine, conn, make_tenant):
    tenant = await make_tenant()
    await conn.execute(
        """INSERT INTO contacts (tenant_id, full_name, company, deleted_at) VALUES
           ($1, 'A', 'Acme, Inc.', NULL), ($1, 'B', 'Example SARL', NULL), ($1, 'C', 'Globex', now()),
           ($1, 'D', 'Acme, Inc.', NULL), ($1, 'E', 'X', NULL)""",
        tenant.id,
    )
    feed = b"""<?xml version="1.0"?><rss version="2.0"><channel><link>https://n.example/</link>
      <item><guid>https://n.example/1</guid><title>ACME, INC. and Example SARL team up</title></item>
      <item><guid>https://n.example/2</guid><title>Acme, Incorporated? No: Acmeville news</title></item>
      <item><guid>https://n.example/3</guid><title>Globex (deleted contact) and X marks the spot</title></item>
    </channel></rss>"""

    run = await run_import(engine, tenant, "rss", feed)

    assert run.rows_inserted == 3
    rows = await conn.fetch(
        "SELECT dedupe_key, companies FROM mentions WHERE tenant_id = $1 ORDER BY dedupe_key", tenant.id
    )
    # Case-insensitive whole words; a deleted contact's company and one-letter names are not matched.
    assert [(r["dedupe_key"][-1], r["companies"]) for r in rows] == [
        ("1", ["Acme, Inc.", "Example SARL"]),
        ("2", []),
        ("3", []),
    ]

    data = (DATA / "feed.rss").read_bytes()
    expected = await parsed(read_feed(io.BytesIO(data)))
    run = await run_import(engine, tenant, "rss", data)
    assert (run.rows_inserted, run.rows_failed) == (len(expected.records), len(expected.errors))
    acme = await conn.fetchval(
        "SELECT companies FROM mentions WHERE tenant_id = $1 AND dedupe_key = 'tag:news.example.com,2024:acme-funding'",
        tenant.id,
    )
    assert acme == ["Acme, Inc."]


# ---------------------------------------------------------------- idempotence, failures, window


@pytest.mark.parametrize(
    "source, file, json",
    [
        ("vcard", "contacts.vcf", False),
        ("mbox", "takeout.mbox", False),
        ("linkedin", "Connections.csv", False),
        ("rss", "feed.rss", False),
        ("rss", "feed.atom", False),
    ],
)
async def test_reimport_changes_nothing(engine, conn, make_tenant, source, file, json):
    tenant = await make_tenant()
    data = (DATA / file).read_bytes()
    first = await run_import(engine, tenant, source, data)
    assert first.rows_inserted > 0
    before = await snapshot(conn, tenant.id)

    second = await run_import(engine, tenant, source, data)

    assert second.status == "succeeded"
    assert (second.rows_inserted, second.rows_updated) == (0, 0)
    assert second.rows_skipped == first.rows_inserted + first.rows_updated + first.rows_skipped
    assert second.rows_failed == first.rows_failed
    assert await snapshot(conn, tenant.id) == before  # not one row rewritten (same xmin)


async def test_partial_failures_are_counted_and_kept(engine, conn, make_tenant):
    tenant = await make_tenant()
    good = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Good {n}\r\nEMAIL:good{n}@x.org\r\nEND:VCARD\r\n"
    nameless = "BEGIN:VCARD\r\nVERSION:3.0\r\nTEL:+1 555 0000\r\nEND:VCARD\r\n"
    cards = [good.format(n=0)] + [nameless] * (MAX_ERRORS_KEPT + 200) + [good.format(n=1)]

    run = await run_import(engine, tenant, "vcard", "".join(cards).encode(), batch_size=500)

    assert run.status == "succeeded"
    assert (run.rows_seen, run.rows_inserted, run.rows_failed) == (len(cards), 2, len(cards) - 2)
    assert len(run.errors) == MAX_ERRORS_KEPT  # counted all, kept the first 1,000
    assert [e.index for e in run.errors[:2]] == [1, 2]
    assert all(e.reason and "TEL" in e.excerpt and len(e.excerpt) <= 200 for e in run.errors)
    assert [
        r["full_name"]
        for r in await conn.fetch("SELECT full_name FROM contacts WHERE tenant_id = $1 ORDER BY id", tenant.id)
    ] == ["Good 0", "Good 1"]


async def test_records_the_database_would_reject_fail_alone(engine, conn, make_tenant):
    tenant = await make_tenant()
    records = [
        ContactRecord(full_name="Fine\x00Name", emails=["fine@x.org"], source_index=0),
        ContactRecord(full_name="Thirteenth Month", birthday_month=13, birthday_day=1, source_index=1),
        ContactRecord(
            full_name="Feb 29 in 2023", birthday_month=2, birthday_day=29, birthday_year=2023, source_index=2
        ),
        ContactRecord(full_name="  ", emails=["blank@x.org"], source_index=3),
        ContactRecord(full_name="Leap", birthday_month=2, birthday_day=29, source_index=4),
        ContactRecord(
            full_name="Nul Lists",
            emails=["nul\x00@x.org"],
            phones=["+1\x00 555"],
            tags=["t\x00ag"],
            links=["https://x.org/\x00"],
            external_id="uid\x001",
            source_index=5,
        ),
    ]
    run_id = await queue_run(engine, tenant, "vcard")
    totals = await write_all(
        engine, RunTarget(tenant.id, run_id, "vcard", "vcard_uid"), _batches(SourceBatch(records=records))
    )
    assert (totals.inserted, totals.failed) == (3, 3)
    run = await conn.fetchrow(
        "SELECT rows_seen, rows_inserted, rows_failed, errors FROM sync_runs WHERE id = $1", run_id
    )
    assert (run["rows_seen"], run["rows_inserted"], run["rows_failed"]) == (6, 3, 3)
    assert [e["index"] for e in json.loads(run["errors"])] == [1, 2, 3]
    assert [
        tuple(r)
        for r in await conn.fetch(
            "SELECT full_name, emails, phones, tags, links, external_ids FROM contacts WHERE tenant_id = $1 ORDER BY id",
            tenant.id,
        )
    ] == [
        ("FineName", ["fine@x.org"], [], [], [], "{}"),
        ("Leap", [], [], [], [], "{}"),
        ("Nul Lists", ["nul@x.org"], ["+1 555"], ["tag"], ["https://x.org/"], '{"vcard_uid": "uid1"}'),
    ]
    assert {
        tuple(r) for r in await conn.fetch("SELECT kind, value FROM contact_keys WHERE tenant_id = $1", tenant.id)
    } == {  # Leap has no strong key: its name is its key within the source ("+1 555" is not a phone number)
        ("email", "fine@x.org"),
        ("email", "nul@x.org"),
        ("vcard_uid", "uid1"),
        ("content", content_key("vcard", "Leap", None)),
    }


async def test_message_batches_the_copy_would_reject_land_the_rest(engine, conn, make_tenant):
    """A COPY has no ON CONFLICT and no per-row leniency: repeats, stored ids, NULs and naive
    times are settled before it, so the rest of the batch lands."""
    tenant = await make_tenant()
    at = dt.datetime(2025, 5, 1, 12, tzinfo=dt.UTC)

    def message(n: int, **fields) -> MessageRecord:
        values = {
            "external_id": f"m{n}@x.org",
            "thread_key": "t1@x.org",
            "subject": f"Subject {n}",
            "body": f"Body {n}",
            "sent_at": at + dt.timedelta(minutes=n),
            "direction": "in",
            "counterpart_email": f"p{n}@x.org",
            "counterpart_name": f"P {n}",
            "source_index": n,
        }
        return MessageRecord(**{**values, **fields})

    run_id = await queue_run(engine, tenant, "mbox")
    target = RunTarget(tenant.id, run_id, "mbox")
    first = [message(0, sent_at=at + dt.timedelta(days=1)), message(1)]
    second = [
        message(0, body="stored in the first batch"),
        message(2, thread_key="t2@x.org"),
        message(2, body="the same id again"),
        message(3, body="nul\x00byte", counterpart_name="Nul\x00Name"),
        message(4, sent_at=dt.datetime(2025, 5, 1, 12)),  # no time zone
        message(5, thread_key=""),
        message(6, counterpart_email=None, counterpart_name=None),  # to nobody but the user
        message(7, counterpart_email="p1@x.org", counterpart_name=None),  # known from the first batch
    ]
    totals = await write_all(engine, target, _batches(SourceBatch(records=first), SourceBatch(records=second)))

    assert (totals.seen, totals.inserted, totals.failed, totals.contacts_created) == (10, 6, 2, 4)
    run = await conn.fetchrow(
        "SELECT rows_seen, rows_inserted, rows_skipped, rows_failed, errors FROM sync_runs WHERE id = $1", run_id
    )
    assert (run["rows_seen"], run["rows_inserted"], run["rows_skipped"], run["rows_failed"]) == (10, 6, 2, 2)
    assert [e["index"] for e in json.loads(run["errors"])] == [4, 5]
    rows = await conn.fetch(
        """SELECT m.external_id, m.body, cv.external_id AS thread, cv.subject AS thread_subject, k.value AS address,
                  c.full_name
           FROM messages m JOIN conversations cv ON cv.id = m.conversation_id
           LEFT JOIN contacts c ON c.id = m.contact_id LEFT JOIN contact_keys k ON k.contact_id = c.id
           WHERE m.tenant_id = $1 ORDER BY m.external_id""",
        tenant.id,
    )
    assert [tuple(r) for r in rows] == [
        # The thread's conversation took the subject of its earliest message in the batch that created it.
        ("m0@x.org", "Body 0", "t1@x.org", "Subject 1", "p0@x.org", "P 0"),
        ("m1@x.org", "Body 1", "t1@x.org", "Subject 1", "p1@x.org", "P 1"),
        ("m2@x.org", "Body 2", "t2@x.org", "Subject 2", "p2@x.org", "P 2"),
        ("m3@x.org", "nulbyte", "t1@x.org", "Subject 1", "p3@x.org", "NulName"),
        ("m6@x.org", "Body 6", "t1@x.org", "Subject 1", None, None),
        ("m7@x.org", "Body 7", "t1@x.org", "Subject 1", "p1@x.org", "P 1"),
    ]
    touched = await conn.fetchval("SELECT count(*) FROM sync_run_contacts WHERE sync_run_id = $1", run_id)
    assert touched == 4  # p0 … p3


async def _batches(*batches: SourceBatch):
    for batch in batches:
        yield batch


async def test_since_window(engine, conn, make_tenant):
    tenant = await make_tenant()
    since = dt.datetime(2024, 3, 5, tzinfo=dt.UTC)
    data = (DATA / "takeout.mbox").read_bytes()
    expected = await parsed(read_mbox(io.BytesIO(data), own_addresses=OWN, since=since))
    assert expected.records and expected.skipped

    run = await run_import(engine, tenant, "mbox", data, since=since)

    assert run.since == since
    assert run.rows_inserted == len(expected.records)
    sent = [r["sent_at"] for r in await conn.fetch("SELECT sent_at FROM messages WHERE tenant_id = $1", tenant.id)]
    assert sent and min(sent) >= since

    run = await run_import(
        engine,
        tenant,
        "linkedin",
        (DATA / "Connections.csv").read_bytes(),
        since=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    )
    names = {r["full_name"] for r in await conn.fetch("SELECT full_name FROM contacts WHERE tenant_id = $1", tenant.id)}
    assert "Jürgen Müller" not in names and "Jane Doe" in names  # connected in 2021 / in 2024
    assert run.until == dt.datetime(2024, 3, 5, tzinfo=dt.UTC)  # the newest connection's day


# ---------------------------------------------------------------- statements per batch


class SentStatements:
    """What the batch writer sends on one connection: every SQLAlchemy statement, and every
    asyncpg call on the driver connection underneath (statements, COPY, BEGIN/COMMIT)."""

    ASYNCPG_CALLS = (
        "prepare",
        "execute",
        "executemany",
        "fetch",
        "fetchrow",
        "fetchval",
        "copy_records_to_table",
        "copy_to_table",
    )

    def __init__(self, monkeypatch, engine, driver: asyncpg.Connection) -> None:
        self.sent: list[tuple[str, str]] = []
        for name in self.ASYNCPG_CALLS:
            real = getattr(asyncpg.Connection, name)

            def spy(conn, what, *args, _real=real, _name=name, **kwargs):
                if conn is driver:
                    self.sent.append((_name, what))
                return _real(conn, what, *args, **kwargs)

            monkeypatch.setattr(asyncpg.Connection, name, spy)
        event.listen(engine.sync_engine, "before_cursor_execute", self._sqlalchemy)
        self._engine = engine

    def _sqlalchemy(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.sent.append(("sqlalchemy", statement))

    def close(self) -> None:
        event.remove(self._engine.sync_engine, "before_cursor_execute", self._sqlalchemy)


async def write_counted(engine, monkeypatch, target: RunTarget, batches) -> tuple[Totals, list[tuple[str, str]]]:
    async with autocommit(engine) as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        with monkeypatch.context() as patch:
            spy = SentStatements(patch, engine, driver)
            try:
                totals = await write_batches(conn, target, batches, Totals())
            finally:
                spy.close()
    return totals, spy.sent


MESSAGE_BATCH = [
    ("execute", "BEGIN;"),
    ("prepare", queries.STORED_MESSAGES),
    ("prepare", queries.RESOLVE_MESSAGES),
    ("copy_records_to_table", "messages"),
    ("execute", "COMMIT;"),
]
STORED_BATCH = [
    ("execute", "BEGIN;"),
    ("prepare", queries.STORED_MESSAGES),
    ("execute", queries.COUNT_ONLY_BATCH),
    ("execute", "COMMIT;"),
]


async def test_a_message_batch_is_one_transaction_of_three_statements(engine, make_tenant, monkeypatch):
    """Whatever the batch size and the tenant's size: a look-up of stored ids, one statement that
    finds or creates contacts and conversations, one COPY; a re-import only the look-up."""
    small, large = await make_tenant(), await make_tenant()
    await write_counted(
        engine,
        monkeypatch,
        RunTarget(large.id, await queue_run(engine, large, "mbox"), "synthetic"),
        synthetic_batches(5000, batch_size=2500, seed=9),
    )

    for tenant in (small, large):
        target = RunTarget(tenant.id, await queue_run(engine, tenant, "mbox"), "synthetic")
        totals, sent = await write_counted(engine, monkeypatch, target, synthetic_batches(3000, batch_size=1000))
        assert totals.batches == 3 and totals.inserted == 3000
        assert sent == MESSAGE_BATCH * 3

        target = RunTarget(tenant.id, await queue_run(engine, tenant, "mbox"), "synthetic")
        totals, sent = await write_counted(engine, monkeypatch, target, synthetic_batches(3000, batch_size=500))
        assert totals.batches == 6 and totals.inserted == 0 and totals.seen == 3000
        assert sent == STORED_BATCH * 6


async def test_a_contact_or_mention_batch_is_one_statement(engine, make_tenant, monkeypatch):
    tenant = await make_tenant()
    run_id = await queue_run(engine, tenant, "vcard")
    cards = read_vcards(io.BytesIO((DATA / "contacts.vcf").read_bytes()), batch_size=3)
    totals, sent = await write_counted(engine, monkeypatch, RunTarget(tenant.id, run_id, "vcard", "vcard_uid"), cards)
    assert totals.batches == 3 and sent == [("prepare", queries.CONTACTS_BATCH)] * 3

    run_id = await queue_run(engine, tenant, "rss")
    items = read_feed(io.BytesIO((DATA / "feed.rss").read_bytes()), batch_size=2)
    totals, sent = await write_counted(engine, monkeypatch, RunTarget(tenant.id, run_id, "rss"), items)
    # The tenant's company names are read once per run (for the matcher), not once per batch; a
    # batch of nothing but a broken item adds its counts alone.
    assert totals.batches == 4 and totals.inserted == 5 and len(sent) == 5
    assert sent[0] == ("fetch", queries.COMPANY_NAMES)
    assert set(sent[1:]) == {("prepare", queries.MENTIONS_BATCH), ("execute", queries.COUNT_ONLY_BATCH)}


class BatchPlans:
    """The plans PostgreSQL ran for the writer's statements on one connection (auto_explain, sent
    back as notices): every table it read, and how."""

    def __init__(self) -> None:
        self.plans: list[dict] = []

    def __call__(self, conn, message) -> None:
        if "plan:" in message.message:
            self.plans.append(json.loads(message.message.split("plan:", 1)[1])["Plan"])

    def scans(self) -> set[tuple[str, str]]:
        found, pending = set(), list(self.plans)
        while pending:
            node = pending.pop()
            if "Relation Name" in node and "Scan" in node["Node Type"]:
                found.add((node["Relation Name"], node["Node Type"]))
            pending += node.get("Plans", [])
        return found


async def write_explained(engine, target: RunTarget, batches) -> tuple[Totals, set[tuple[str, str]]]:
    plans = BatchPlans()
    async with autocommit(engine) as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        await driver.execute(
            "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; "
            "SET auto_explain.log_level = notice; SET auto_explain.log_format = json"
        )
        driver.add_log_listener(plans)
        try:
            totals = await write_batches(conn, target, batches, Totals())
        finally:
            driver.remove_log_listener(plans)
            await conn.invalidate()  # not back to the pool with auto_explain on
    return totals, plans.scans()


def cards(count: int, first: int = 0) -> bytes:
    return "".join(
        f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Card {n}\r\nEMAIL:card{n}@x.org\r\nUID:uid-{n}\r\n"
        f"ORG:Company {n % 7}\r\nEND:VCARD\r\n"
        for n in range(first, first + count)
    ).encode()


async def test_batches_probe_indexes_even_when_statistics_say_the_tenant_is_empty(engine, conn, make_tenant):
    """The plans of every batch statement read the tenant's rows through index probes: planned with
    statistics from before the tenant had any rows (as after a first large import), a join would
    scan the tenant's rows once per batch row."""
    other, tenant = await make_tenant(), await make_tenant()
    for target, batches in (
        (
            RunTarget(other.id, await queue_run(engine, other, "vcard"), "vcard", "vcard_uid"),
            read_vcards(io.BytesIO(cards(3000))),
        ),
        (RunTarget(other.id, await queue_run(engine, other, "mbox"), "synthetic"), synthetic_batches(3000, seed=3)),
    ):
        await write_all(engine, target, batches)
    await conn.execute("ANALYZE contacts, contact_keys, conversations, messages")  # `tenant` has no rows here
    probes_only = {"Index Scan", "Index Only Scan", "Function Scan", "CTE Scan"}
    tables = {"contacts", "contact_keys", "conversations", "messages"}

    for data in (cards(3000), cards(3000, first=1500)):  # new contacts, then half matched
        run_id = await queue_run(engine, tenant, "vcard")
        totals, scans = await write_explained(
            engine, RunTarget(tenant.id, run_id, "vcard", "vcard_uid"), read_vcards(io.BytesIO(data), batch_size=1000)
        )
        assert totals.batches == 3 and totals.failed == 0
        assert {kind for table, kind in scans if table in tables} <= probes_only, scans
    assert await conn.fetchval("SELECT count(*) FROM contacts WHERE tenant_id = $1", tenant.id) == 4500

    for seed in (1, 1, 2):  # new messages, the same again (all stored), more (known contacts and some threads)
        run_id = await queue_run(engine, tenant, "mbox")
        totals, scans = await write_explained(
            engine,
            RunTarget(tenant.id, run_id, "synthetic"),
            synthetic_batches(3000, batch_size=1000, seed=seed, people=500),
        )
        assert totals.batches == 3 and totals.seen == 3000
        assert {kind for table, kind in scans if table in tables} <= probes_only, scans
        assert {table for table, _ in scans} >= {"messages"}
    assert await conn.fetchval("SELECT count(*) FROM messages WHERE tenant_id = $1", tenant.id) == 6000
    assert await conn.fetchval("SELECT count(*) FROM contacts WHERE tenant_id = $1", tenant.id) == 5000  # + 500 people

    run_id = await queue_run(engine, tenant, "rss")
    totals, scans = await write_explained(
        engine, RunTarget(tenant.id, run_id, "rss"), read_feed(io.BytesIO((DATA / "feed.rss").read_bytes()))
    )
    assert totals.inserted == 5
    assert {kind for table, kind in scans if table in tables | {"mentions"}} <= probes_only, scans


# ---------------------------------------------------------------- run states


async def test_a_finished_run_is_not_run_again(engine, conn, make_tenant):
    tenant = await make_tenant()
    run = await run_import(engine, tenant, "vcard", (DATA / "contacts.vcf").read_bytes())
    state = await conn.fetchrow("SELECT xmin::text, * FROM sync_runs WHERE id = $1", run.id)
    await running.execute_sync_run(engine, run.id)
    assert await conn.fetchrow("SELECT xmin::text, * FROM sync_runs WHERE id = $1", run.id) == state
    # The uploaded file is gone once the run finished.
    assert await conn.fetchval("SELECT count(*) FROM sync_uploads WHERE sync_run_id = $1", run.id) == 0


async def test_a_run_that_fails_is_recorded(engine, conn, make_tenant):
    tenant = await make_tenant()
    # Stored without the check the API does: the worker meets the format error.
    run_id = await queue_run(engine, tenant, "rss", upload=b"<html><body>not a feed</body></html>")
    await running.execute_sync_run(engine, run_id)
    run = await conn.fetchrow("SELECT * FROM sync_runs WHERE id = $1", run_id)
    assert run["status"] == "failed" and "SourceFormatError" in run["error"]
    assert run["finished_at"] is not None and run["duration_ms"] is not None
    assert await conn.fetchval("SELECT count(*) FROM sync_uploads WHERE sync_run_id = $1", run_id) == 0


async def test_a_run_left_running_starts_over(engine, conn, make_tenant):
    tenant = await make_tenant()
    run_id = await queue_run(engine, tenant, "vcard", upload=(DATA / "contacts.vcf").read_bytes())
    await conn.execute("UPDATE sync_runs SET status = 'running', rows_seen = 99 WHERE id = $1", run_id)
    await running.execute_sync_run(engine, run_id)
    run = await conn.fetchrow("SELECT status, rows_seen FROM sync_runs WHERE id = $1", run_id)
    assert (run["status"], run["rows_seen"]) == ("succeeded", 8)


async def test_transient_failure_is_raised_for_a_retry_and_the_retry_lands_everything(
    engine, conn, make_tenant, monkeypatch
):
    """A serialization failure mid-import is not a failed run: the job queue retries it, and the retry resumes
    after the batch that landed (read in that run's batch size, whatever the retry's), with its counts: the
    run ends as one never interrupted."""
    tenant, clean = await make_tenant(), await make_tenant()
    run_id = await queue_run(engine, tenant, "vcard", upload=(DATA / "contacts.vcf").read_bytes())
    real_write_batches = running.write_batches

    async def fail_after_first_batch(conn_, target, batches, totals, progress=None):
        async for batch in batches:
            from kith.sync.batch_writer import write_batch

            await write_batch(conn_, target, batch, totals)
            raise asyncpg.SerializationError("could not serialize access due to concurrent update")

    monkeypatch.setattr(running, "write_batches", fail_after_first_batch)
    with pytest.raises(asyncpg.SerializationError):
        await running.execute_sync_run(engine, run_id, batch_size=2)
    assert await conn.fetchval("SELECT status FROM sync_runs WHERE id = $1", run_id) == "running"

    monkeypatch.setattr(running, "write_batches", real_write_batches)
    await running.execute_sync_run(engine, run_id, batch_size=3)  # the redelivery
    reference = await queue_run(engine, clean, "vcard", upload=(DATA / "contacts.vcf").read_bytes())
    await running.execute_sync_run(engine, reference, batch_size=2)
    outcome = (
        "SELECT status, rows_seen, rows_inserted, rows_updated, rows_skipped, rows_failed, errors::text, "
        "stages #> '{sync,batches}' AS batches, stages #> '{sync,contacts_created}' AS created "
        "FROM sync_runs WHERE id = $1"
    )
    run, uninterrupted = await conn.fetchrow(outcome, run_id), await conn.fetchrow(outcome, reference)
    assert run["status"] == "succeeded" and run["rows_inserted"] > 0
    assert dict(run) == dict(uninterrupted)
