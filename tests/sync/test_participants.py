"""mbox: every person a message is with is a participant. A message the user sent To and Cc two people is
on both people's timelines and counts for both (last interaction, score); one received from X with Cc to Y
counts for X and Y. The user's own addresses and no-reply addresses are nobody's; a re-import writes nothing."""

from __future__ import annotations

import datetime as dt
import email.utils
import io

from tests.sync.test_pipeline import MESSAGE_BATCH, STORED_BATCH, queue_run, run_import, write_counted

from kith.sync.batch_writer import RunTarget
from kith.sync.sources import read_mbox
from kith.sync.sources.records import BROADCAST_PARTICIPANTS, MAX_PARTICIPANTS

OWN = ["me@gmail.com", "me.alias@example.org"]


def mail(n: int, headers: str, date: str) -> str:
    return (
        f"From x@xxx Mon Mar 04 08:00:00 +0000 2024\nDate: {date}\nMessage-ID: <p{n}@example.com>\n"
        f"Subject: Message {n}\n{headers}Content-Type: text/plain\n\nText {n}\n\n"
    )


# Recent, so they count for a score (recency, frequency and reciprocity are measured back from now).
SENT = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=3)
RECEIVED = SENT + dt.timedelta(days=1)

MAILBOX = (
    # Sent To two people, one of them twice (another case), Bcc a third, Cc the user's other address.
    mail(
        0,
        "From: Me <me@gmail.com>\nTo: Alice <alice@example.com>, Bob <bob@example.com>\n"
        "Cc: ALICE@example.com, me.alias@example.org\nBcc: Erin <erin@example.com>\n",
        email.utils.format_datetime(SENT),
    )
    # Received from Carol, Cc Dave, the user, and a notifications address (nobody).
    + mail(
        1,
        "From: Carol <carol@example.com>\nTo: me@gmail.com\nCc: Dave <dave@example.com>, notifications@github.com\n",
        email.utils.format_datetime(RECEIVED),
    )
    # To Bob alone, later.
    + mail(
        2, "From: me@gmail.com\nTo: bob@example.com\n", email.utils.format_datetime(RECEIVED + dt.timedelta(hours=1))
    )
).encode()


async def test_the_parser_names_every_participant_beside_the_counterpart() -> None:
    [batch] = [b async for b in read_mbox(io.BytesIO(MAILBOX), own_addresses=OWN)]
    sent, received, _ = batch.records
    assert (sent.counterpart_email, sent.participants) == (
        "alice@example.com",
        [("bob@example.com", "Bob"), ("erin@example.com", "Erin")],
    )
    assert (received.counterpart_email, received.participants) == ("carol@example.com", [("dave@example.com", "Dave")])


async def timeline(client, tenant, contact_id: int) -> list[dict]:
    """The contact's whole timeline, walked a message a page (the two sources merge in one order)."""
    items: list[dict] = []
    params = {"limit": 1}
    while True:
        response = await client.get(f"/api/v1/contacts/{contact_id}/timeline", params=params, headers=tenant.headers)
        assert response.status_code == 200, response.text
        items += response.json()["items"]
        if not response.json()["next_cursor"]:
            return items
        params = {"limit": 1, "cursor": response.json()["next_cursor"]}


def subjects(items: list[dict]) -> list[str]:
    return [m["subject"] for m in items]


async def test_a_message_is_on_every_participants_timeline_and_counts_for_each(engine, client, conn, make_tenant):
    tenant = await make_tenant()
    run = await run_import(engine, tenant, "mbox", MAILBOX, own=OWN)
    assert (run.rows_inserted, run.rows_failed) == (3, 0)
    assert await conn.fetchval("SELECT count(*) FROM messages WHERE tenant_id = $1", tenant.id) == 3

    ids = {
        r["email"]: r["id"]
        for r in await conn.fetch(
            "SELECT emails[1] AS email, id FROM contacts WHERE tenant_id = $1 AND deleted_at IS NULL", tenant.id
        )
    }
    assert set(ids) == {
        "alice@example.com",
        "bob@example.com",
        "erin@example.com",
        "carol@example.com",
        "dave@example.com",
    }
    # The same message on each one's timeline, as the thread shows it (its contact is the first recipient).
    [sent] = await timeline(client, tenant, ids["alice@example.com"])
    assert (sent["subject"], sent["body"], sent["direction"]) == ("Message 0", "Text 0", "out")
    assert sent["contact_id"] == ids["alice@example.com"]
    thread = (
        await client.get(f"/api/v1/conversations/{sent['conversation_id']}/messages", headers=tenant.headers)
    ).json()["items"]
    assert thread == [sent]
    assert await timeline(client, tenant, ids["erin@example.com"]) == [sent]
    # Bob's own message and the one he was Cc'd on, newest first.
    assert subjects(await timeline(client, tenant, ids["bob@example.com"])) == ["Message 2", "Message 0"]
    for person in ("carol", "dave"):
        assert subjects(await timeline(client, tenant, ids[f"{person}@example.com"])) == ["Message 1"], person

    # Scored, and listed with their last interaction, once the run's refresh has run.
    cards = (await client.get("/api/v1/contacts?limit=50", headers=tenant.headers)).json()["items"]
    by_email = {c["emails"][0]: c for c in cards}
    for person in ("alice", "erin"):
        assert by_email[f"{person}@example.com"]["last_interaction_at"] == SENT.isoformat().replace("+00:00", "Z")
    assert by_email["bob@example.com"]["messages_30d"] == 2
    for person in ("carol", "dave"):
        assert by_email[f"{person}@example.com"]["last_interaction_at"] == RECEIVED.isoformat().replace("+00:00", "Z")
    # Each participant scores as the message's own contact does.
    scores = {email: card["score"] for email, card in by_email.items()}
    assert scores["alice@example.com"] > 0 and scores["carol@example.com"] > 0
    assert scores["alice@example.com"] == scores["erin@example.com"] < scores["bob@example.com"]
    assert scores["carol@example.com"] == scores["dave@example.com"]

    # The same file again writes nothing.
    before = await conn.fetch(
        "SELECT xmin::text, * FROM message_participants WHERE tenant_id = $1 ORDER BY message_id, contact_id",
        tenant.id,
    )
    assert len(before) == 3  # Bob, Erin; Dave
    again = await run_import(engine, tenant, "mbox", MAILBOX, own=OWN)
    assert (again.rows_inserted, again.rows_skipped) == (0, 3)
    after = await conn.fetch(
        "SELECT xmin::text, * FROM message_participants WHERE tenant_id = $1 ORDER BY message_id, contact_id",
        tenant.id,
    )
    assert after == before
    assert await conn.fetchval("SELECT count(*) FROM contacts WHERE tenant_id = $1", tenant.id) == 5


CARDS = (
    b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Erin\r\nEMAIL:erin@example.com\r\nORG:Acme\r\nCATEGORIES:friends\r\nEND:VCARD\r\n"
    b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Dave\r\nEMAIL:dave@example.com\r\nORG:Acme\r\nEND:VCARD\r\n"
)


async def test_the_aggregates_count_a_participants_messages(engine, client, conn, make_tenant):
    """Companies, tags and the dashboard's overdue count see a contact's interactions as its card does."""
    tenant = await make_tenant()
    await run_import(engine, tenant, "vcard", CARDS)
    erin = await conn.fetchval("SELECT id FROM contacts WHERE tenant_id = $1 AND full_name = 'Erin'", tenant.id)
    # Erin wants to hear from the user every two days: her last interaction (Bcc, three days ago) is overdue.
    response = await client.patch(f"/api/v1/contacts/{erin}", headers=tenant.headers, json={"cadence_days": 2})
    assert response.status_code == 200, response.text
    await run_import(engine, tenant, "mbox", MAILBOX, own=OWN)

    [acme] = (await client.get("/api/v1/companies", headers=tenant.headers)).json()["items"]
    assert (acme["name"], acme["contacts"], acme["messages_30d"]) == ("Acme", 2, 2)  # Erin's Bcc, Dave's Cc
    assert acme["last_interaction_at"] == RECEIVED.isoformat().replace("+00:00", "Z")
    [friends] = (await client.get("/api/v1/tags", headers=tenant.headers)).json()["items"]
    assert (friends["name"], friends["messages_30d"]) == ("friends", 1)
    overdue = (await client.get("/api/v1/contacts/overdue", headers=tenant.headers)).json()["items"]
    assert [c["id"] for c in overdue] == [erin]
    assert (await client.get("/api/v1/dashboard", headers=tenant.headers)).json()["overdue_contacts"] == 1


async def test_a_batch_with_participants_is_still_three_statements(engine, make_tenant, monkeypatch):
    """The participants' contacts and rows land in the statement that resolves the batch's contacts."""
    tenant = await make_tenant()
    target = RunTarget(tenant.id, await queue_run(engine, tenant, "mbox"), "mbox")
    totals, sent = await write_counted(engine, monkeypatch, target, read_mbox(io.BytesIO(MAILBOX), own_addresses=OWN))
    assert (totals.batches, totals.inserted, totals.contacts_created) == (1, 3, 5)
    assert sent == MESSAGE_BATCH
    target = RunTarget(tenant.id, await queue_run(engine, tenant, "mbox"), "mbox")
    totals, sent = await write_counted(engine, monkeypatch, target, read_mbox(io.BytesIO(MAILBOX), own_addresses=OWN))
    assert totals.inserted == 0 and sent == STORED_BATCH


def broadcast(recipients: int) -> bytes:
    """A mail the user sent To `recipients` people, p0 to p<recipients - 1>."""
    to = ", ".join(f"P{i} <p{i}@example.com>" for i in range(recipients))
    return mail(9, f"From: me@gmail.com\nTo: {to}\n", email.utils.format_datetime(SENT)).encode()


async def test_a_broadcast_lands_its_first_participants_and_counts_the_others(engine, conn, make_tenant):
    """A message to 400 people is a broadcast: its contact and its first MAX_PARTICIPANTS participants (as
    the headers name them) land, the others make no contact and no participant row, and the run says so."""
    assert MAX_PARTICIPANTS == 50
    tenant = await make_tenant()
    run = await run_import(engine, tenant, "mbox", broadcast(400), own=OWN)
    assert (run.rows_inserted, run.rows_failed) == (1, 0)
    assert run.stages["sync"]["dropped"] == {BROADCAST_PARTICIPANTS: 400 - 1 - MAX_PARTICIPANTS}
    assert run.stages["sync"]["contacts_created"] == 1 + MAX_PARTICIPANTS
    emails = {r[0] for r in await conn.fetch("SELECT emails[1] FROM contacts WHERE tenant_id = $1", tenant.id)}
    assert emails == {f"p{i}@example.com" for i in range(1 + MAX_PARTICIPANTS)}
    participants = await conn.fetch(
        "SELECT c.emails[1] FROM message_participants p JOIN contacts c ON c.id = p.contact_id WHERE p.tenant_id = $1",
        tenant.id,
    )
    assert {r[0] for r in participants} == {f"p{i}@example.com" for i in range(1, 1 + MAX_PARTICIPANTS)}

    # A message with exactly that many is whole.
    tenant = await make_tenant()
    run = await run_import(engine, tenant, "mbox", broadcast(1 + MAX_PARTICIPANTS), own=OWN)
    assert run.stages["sync"]["dropped"] == {}
    assert await conn.fetchval("SELECT count(*) FROM message_participants WHERE tenant_id = $1", tenant.id) == 50
