"""Input at the edges: times at the ends of the calendar (clamped, never an overflow), raw bytes that are
not UTF-8 inside JSON (a 400 from the API; cleaned in a push), numbers out of range in a push (that
record's error), and NULs in what a record error quotes (cleaned, so the run lands)."""

from __future__ import annotations

import pytest
from tests.hardening.test_bad_records import GOOD, csv_row, mbox

PROBLEM = "application/problem+json"
EARLIEST = "0001-01-01T00:00:00+14:00"  # before 0001-01-01 in UTC: past Python's first datetime
LATEST = "9999-12-31T23:59:59-14:00"  # after 9999-12-31 in UTC: past its last


@pytest.fixture
async def tenant(make_tenant):
    return await make_tenant()


async def a_thread(client, tenant) -> tuple[int, int]:
    contact = await client.post("/api/v1/contacts", json={"full_name": "Ada"}, headers=tenant.headers)
    conversation = await client.post(
        "/api/v1/conversations", json={"contact_id": contact.json()["id"], "channel": "email"}, headers=tenant.headers
    )
    sent = await client.post(
        f"/api/v1/conversations/{conversation.json()['id']}/messages", json={"body": "hi"}, headers=tenant.headers
    )
    assert sent.status_code == 201, sent.text
    return contact.json()["id"], conversation.json()["id"]


async def test_times_past_either_end_of_the_calendar_are_clamped(client, tenant):
    """Every stored time lies inside 0001–9999 UTC, so clamping to it answers exactly what the time asks."""
    contact_id, conversation_id = await a_thread(client, tenant)
    for path in (f"/api/v1/conversations/{conversation_id}/messages", f"/api/v1/contacts/{contact_id}/timeline"):
        for name, value, expected in (
            ("before", EARLIEST, 0),  # nothing is older than the first moment
            ("after", EARLIEST, 1),
            ("before", LATEST, 1),
            ("after", LATEST, 0),  # nothing is newer than the last one
        ):
            response = await client.get(path, params={name: value}, headers=tenant.headers)
            assert response.status_code == 200, (path, name, value, response.text)
            assert len(response.json()["items"]) == expected, (path, name, value)
    for value in (EARLIEST, LATEST):
        response = await client.get("/api/v1/mentions", params={"since": value}, headers=tenant.headers)
        assert response.status_code == 200, response.text
        upload = await client.post(
            "/api/v1/sync/linkedin",
            params={"since": value},
            headers={**tenant.headers, "Content-Type": "application/json"},
            content=b'[{"first_name": "Grace", "url": "https://www.linkedin.com/in/grace"}]',
        )
        assert upload.status_code == 202, upload.text


async def json_writes(client, tenant) -> list[tuple[str, str]]:
    contact_id, conversation_id = await a_thread(client, tenant)
    return [
        ("POST", "/api/v1/contacts"),
        ("PATCH", f"/api/v1/contacts/{contact_id}"),
        ("POST", "/api/v1/conversations"),
        ("POST", f"/api/v1/conversations/{conversation_id}/messages"),
    ]


@pytest.mark.parametrize("raw", [b"\xff", b"\xc3", b"\xed\xa0\x80"])  # a stray byte, a cut sequence, a surrogate
async def test_raw_bytes_that_are_not_utf8_in_a_json_body_are_400(client, conn, tenant, raw):
    writes = await json_writes(client, tenant)
    before = await conn.fetchval("SELECT count(*) FROM contacts") + await conn.fetchval("SELECT count(*) FROM messages")
    body = b'{"full_name": "A' + raw + b'", "body": "x' + raw + b'", "contact_id": 1, "channel": "email"}'
    for method, path in writes:
        response = await client.request(
            method, path, content=body, headers={**tenant.headers, "Content-Type": "application/json"}
        )
        assert response.status_code == 400, (method, path, response.text)
        assert response.headers["content-type"].startswith(PROBLEM)
        assert "UTF-8" in response.json()["detail"]
    after = await conn.fetchval("SELECT count(*) FROM contacts") + await conn.fetchval("SELECT count(*) FROM messages")
    assert after == before


async def push(client, tenant, body: bytes) -> dict:
    response = await client.post(
        "/api/v1/sync/linkedin", headers={**tenant.headers, "Content-Type": "application/json"}, content=body
    )
    assert response.status_code == 202, response.text
    return (await client.get(f"/api/v1/sync/runs/{response.json()['id']}", headers=tenant.headers)).json()


def items_with(bad: bytes) -> bytes:
    good = [b'{"first_name": "P%d", "url": "https://www.linkedin.com/in/p%d"}' % (i, i) for i in range(GOOD)]
    good.insert(GOOD // 2, bad)
    return b"[" + b", ".join(good) + b"]"


@pytest.mark.parametrize("number", [b"1e400", b"-1e400", b"123456789012345678901234567890"])
async def test_a_number_out_of_range_in_a_push_is_that_items_error(client, conn, tenant, number):
    bad = b'{"first_name": "Huge", "url": "https://www.linkedin.com/in/huge", "score": ' + number + b"}"
    run = await push(client, tenant, items_with(bad))
    assert run["status"] == "succeeded", run
    # A number nobody can hold (1e400) is the item's error; a long integer is an unknown field like any other.
    failed = 1 if b"e" in number else 0
    assert (run["rows_inserted"], run["rows_failed"]) == (GOOD + 1 - failed, failed), run
    if failed:
        assert run["errors"][0]["index"] == GOOD // 2 and "Huge" in run["errors"][0]["excerpt"], run


async def test_a_raw_byte_in_a_push_is_cleaned_as_in_a_file(client, conn, tenant):
    run = await push(
        client, tenant, items_with(b'{"first_name": "Bad\xffName", "url": "https://www.linkedin.com/in/b"}')
    )
    assert run["status"] == "succeeded", run
    assert (run["rows_inserted"], run["rows_failed"]) == (GOOD + 1, 0), run
    assert await conn.fetchval("SELECT full_name FROM contacts WHERE full_name LIKE 'Bad%'") == "Bad\ufffdName"


async def upload(client, tenant, source: str, media: str, content: bytes) -> dict:
    response = await client.post(
        f"/api/v1/sync/{source}", headers={**tenant.headers, "Content-Type": media}, content=content
    )
    assert response.status_code == 202, response.text
    return (await client.get(f"/api/v1/sync/runs/{response.json()['id']}", headers=tenant.headers)).json()


async def test_a_nul_in_a_csv_rows_error_excerpt_is_dropped(client, tenant):
    header = "First Name,Last Name,URL,Email Address,Company,Position,Connected On\n"
    rows = "".join(csv_row(i) for i in range(GOOD))
    bad = "Nul\x00Name,Last,https://www.linkedin.com/in/nul,nul@example.org,Acme,Eng,not a date\x00\n"
    run = await upload(client, tenant, "linkedin", "text/csv", (header + bad + rows).encode())
    assert run["status"] == "succeeded", run
    assert (run["rows_inserted"], run["rows_failed"]) == (GOOD, 1), run
    assert "\x00" not in run["errors"][0]["excerpt"] and "NulName" in run["errors"][0]["excerpt"], run


async def test_a_nul_in_an_mbox_messages_error_excerpt_is_dropped(client, tenant):
    bad = (
        "From x@xxx Mon Mar 04 08:15:00 +0000 2024\n"
        "Date: not a date\x00 at all\n"
        "Message-ID: <nul@example.com>\n"
        "Subject: Nul\x00Subject\n"
        "From: \x00\n\n"
        "Body\x00\n\n"
    )
    run = await upload(
        client, tenant, "mbox", "application/mbox", (bad + "".join(mbox(i) for i in range(GOOD))).encode()
    )
    assert run["status"] == "succeeded", run
    assert (run["rows_inserted"], run["rows_failed"]) == (GOOD, 1), run
    assert all("\x00" not in e["excerpt"] and "\x00" not in e["reason"] for e in run["errors"]), run
