"""One bad record is that record's problem, never the file's: 20 good records and one carrying text
PostgreSQL refuses (a NUL, a lone surrogate, invalid UTF-8) land the 20, and the bad one is cleaned
(NUL dropped; lone surrogates and invalid UTF-8 become U+FFFD) and lands too: one rule for every source."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from tests.sync.test_pipeline import queue_run, write_all

from kith.sync.batch_writer import RunTarget
from kith.sync.sources import ContactRecord, MentionRecord, MessageRecord, SourceBatch

GOOD = 20


def vcard(i: int, name: str = "") -> str:
    return f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{name or f'Person {i}'}\r\nEMAIL:p{i}@example.org\r\nEND:VCARD\r\n"


def mbox(i: int, subject: str = "") -> str:
    return (
        f"From x@xxx Mon Mar 04 08:15:00 +0000 2024\n"
        f"Date: Mon, 04 Mar 2024 09:{i:02d}:00 +0000\n"
        f"Message-ID: <m{i}@example.com>\n"
        f"Subject: {subject or f'Hello {i}'}\n"
        f"From: Sender {i} <s{i}@example.com>\n"
        f"To: me@gmail.com\n"
        f"Content-Type: text/plain; charset=utf-8\n\n"
        f"Body {subject}\n\n"
    )


def csv_row(i: int, name: str = "") -> str:
    return f"{name or f'First{i}'},Last{i},https://www.linkedin.com/in/p{i},p{i}@example.org,Acme,Eng,05 Mar 2024\n"


def rss_item(i: int, title: str = "") -> str:
    return (
        f"<item><title>{title or f'News {i}'}</title><link>https://news.example/{i}</link>"
        f"<guid>n{i}</guid><pubDate>Tue, 05 Mar 2024 14:30:00 +0000</pubDate></item>"
    )


def build(source: str, bad: bytes) -> tuple[bytes, str]:
    """The file of `source` with GOOD good records and, in the middle, one whose name carries `bad`."""
    marker = "BAD_MARKER"

    def many(one) -> str:
        return "".join(one(i, marker if i == GOOD // 2 else "") for i in range(GOOD + 1))

    if source == "vcard":
        text, media = many(vcard), "text/vcard"
    elif source == "mbox":
        text, media = many(mbox), "application/mbox"
    elif source == "linkedin":
        header = "First Name,Last Name,URL,Email Address,Company,Position,Connected On\n"
        text, media = header + many(csv_row), "text/csv"
    else:
        body = many(rss_item)
        text = (
            f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>N</title>{body}</channel></rss>'
        )
        media = "application/rss+xml"
    return text.encode().replace(marker.encode(), b"Bad" + bad + b"Name"), media


BAD_BYTES = {"nul": b"\x00", "invalid-utf8": b"\xff\xfe\xc3", "surrogate": "\udcff".encode("utf-8", "surrogatepass")}
ROWS = {
    "vcard": "SELECT full_name AS name FROM contacts WHERE tenant_id = $1",
    "linkedin": "SELECT full_name AS name FROM contacts WHERE tenant_id = $1",
    "mbox": "SELECT subject AS name FROM messages WHERE tenant_id = $1",
    "rss": "SELECT title AS name FROM mentions WHERE tenant_id = $1",
}


@pytest.mark.parametrize("bad", BAD_BYTES)
@pytest.mark.parametrize("source", ["vcard", "mbox", "linkedin", "rss"])
async def test_a_bad_record_never_fails_the_file(client, conn, make_tenant, source, bad):
    tenant = await make_tenant()
    content, media = build(source, BAD_BYTES[bad])
    response = await client.post(
        f"/api/v1/sync/{source}", headers={**tenant.headers, "Content-Type": media}, content=content
    )
    assert response.status_code == 202, response.text
    run = (await client.get(f"/api/v1/sync/runs/{response.json()['id']}", headers=tenant.headers)).json()
    assert run["status"] == "succeeded", run
    assert (run["rows_inserted"], run["rows_failed"]) == (GOOD + 1, 0), run
    names = [r["name"] for r in await conn.fetch(ROWS[source], tenant.id)]
    assert len(names) == GOOD + 1
    cleaned = [n for n in names if n.startswith("Bad")]
    # NUL dropped; other bytes decoded by the source's own fallback (cp1252, Latin-1) or as U+FFFD.
    assert len(cleaned) == 1 and "Name" in cleaned[0] and "\x00" not in cleaned[0], names


@pytest.mark.parametrize("bad", ["\u0000", "\ud800"])
async def test_a_bad_item_of_a_json_push_never_fails_the_push(client, conn, make_tenant, bad):
    tenant = await make_tenant()
    items = [{"first_name": f"P{i}", "url": f"https://www.linkedin.com/in/p{i}"} for i in range(GOOD)]
    items.insert(GOOD // 2, {"first_name": f"Bad{bad}Name", "url": "https://www.linkedin.com/in/bad"})
    body = json.dumps(items).encode()  # ensure_ascii: the bad character travels as a \u escape
    response = await client.post(
        "/api/v1/sync/linkedin", headers={**tenant.headers, "Content-Type": "application/json"}, content=body
    )
    assert response.status_code == 202, response.text
    run = (await client.get(f"/api/v1/sync/runs/{response.json()['id']}", headers=tenant.headers)).json()
    assert run["status"] == "succeeded", run
    assert (run["rows_inserted"], run["rows_failed"]) == (GOOD + 1, 0), run
    names = {r["name"] for r in await conn.fetch(ROWS["linkedin"], tenant.id)}
    assert "BadName" in names or "Bad\ufffdName" in names, names


async def test_text_postgresql_refuses_is_cleaned_in_every_record_kind(engine, conn, make_tenant):
    """Whatever a parser lets through (a lone surrogate, a NUL), the batch writer cleans: no batch fails."""
    tenant = await make_tenant()
    at = dt.datetime(2025, 5, 1, tzinfo=dt.UTC)
    batches = {
        "vcard": ContactRecord(full_name="Sur\ud800rogate", notes="n\x00\udfff", tags=["\udc80"], source_index=0),
        "mbox": MessageRecord(
            external_id="m\ud800@x",
            thread_key="t\x00",
            subject="S\udc00",
            body="b\x00\ud83d",
            sent_at=at,
            direction="in",
            counterpart_email="p@x.org",
            counterpart_name="P\udfff",
            source_index=0,
        ),
        "rss": MentionRecord(
            dedupe_key="k\ud800", title="T\x00\udc00", link=None, summary="\ud800", published_at=at, source_index=0
        ),
    }
    for source, record in batches.items():
        run_id = await queue_run(engine, tenant, source)
        totals = await write_all(engine, RunTarget(tenant.id, run_id, source, "vcard_uid"), one(record))
        assert (totals.inserted, totals.failed) == (1, 0), source
    assert await conn.fetchval(
        "SELECT full_name || notes || tags[1] FROM contacts WHERE tenant_id = $1", tenant.id
    ) == ("Sur\ufffdrogaten\ufffd\ufffd")
    assert tuple(
        await conn.fetchrow("SELECT external_id, subject, body FROM messages WHERE tenant_id = $1", tenant.id)
    ) == ("m\ufffd@x", "S\ufffd", "b\ufffd")
    assert tuple(await conn.fetchrow("SELECT title, summary FROM mentions WHERE tenant_id = $1", tenant.id)) == (
        "T\ufffd",
        "\ufffd",
    )


async def one(record):
    yield SourceBatch(records=[record])


def dated_mbox(i: int, date: str | None, envelope: str = "Mon Mar 04 08:15:00 +0000 2024") -> str:
    header = f"Date: {date}\n" if date is not None else ""
    return (
        f"From x@xxx {envelope}\n{header}Message-ID: <d{i}@example.com>\nSubject: Dated {i}\n"
        f"From: Sender {i} <s{i}@example.com>\nTo: me@gmail.com\nContent-Type: text/plain\n\nBody\n\n"
    )


async def test_an_mbox_date_beyond_the_calendar_in_utc_is_that_messages_error(client, conn, make_tenant):
    """A Date (or, without one, a "From " line time) whose offset carries it past 9999-12-31 or before 0001-01-01
    in UTC is that message's error; the run and the other messages are unharmed."""
    tenant = await make_tenant()
    content = "".join(dated_mbox(i, f"Mon, 04 Mar 2024 09:{i:02d}:00 +0000") for i in range(GOOD))
    content += dated_mbox(100, "Fri, 31 Dec 9999 23:59:59 -1400")
    content += dated_mbox(101, None, envelope="Fri Dec 31 23:59:59 -1400 9999")
    # Year 0001 is read as 2001 by the e-mail date parser (RFC 5322's rule for short years): it lands.
    content += dated_mbox(102, "Mon, 1 Jan 0001 00:00:00 +1400")
    content += dated_mbox(103, "Fri, 31 Dec 9999 23:59:59 +1400")  # 9999-12-31T09:59:59Z: a time like any
    # A Date that can be used is, whatever the "From " line's time.
    content += dated_mbox(104, "Mon, 04 Mar 2024 10:00:00 +0000", envelope="Fri Dec 31 23:59:59 -1400 9999")
    response = await client.post(
        "/api/v1/sync/mbox", headers={**tenant.headers, "Content-Type": "application/mbox"}, content=content.encode()
    )
    assert response.status_code == 202, response.text
    run = (await client.get(f"/api/v1/sync/runs/{response.json()['id']}", headers=tenant.headers)).json()
    assert run["status"] == "succeeded", run
    assert (run["rows_inserted"], run["rows_failed"]) == (GOOD + 3, 2), run
    reasons = {e["index"]: e["reason"] for e in run["errors"]}
    assert reasons[GOOD].startswith("Date header out of range in UTC"), reasons
    assert reasons == {GOOD: reasons[GOOD], GOOD + 1: "message has no Date header"}, reasons
    rows = await conn.fetch("SELECT subject, sent_at FROM messages WHERE tenant_id = $1", tenant.id)
    sent = {r["subject"]: r["sent_at"] for r in rows}
    assert sent["Dated 102"] == dt.datetime(2000, 12, 31, 10, tzinfo=dt.UTC)
    assert sent["Dated 103"] == dt.datetime(9999, 12, 31, 9, 59, 59, tzinfo=dt.UTC)
    assert sent["Dated 104"] == dt.datetime(2024, 3, 4, 10, tzinfo=dt.UTC)
    timeline = await client.get("/api/v1/conversations", headers=tenant.headers)
    assert timeline.status_code == 200, timeline.text
