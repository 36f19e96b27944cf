"""Merging contacts: a dry run shows the merged card and changes nothing; a merge keeps every message and
key on the survivor and the score follows; a re-import after it creates no duplicate; an undo restores the
exact rows (keeping the user's later edits of the survivor); nothing crosses tenants."""

from __future__ import annotations

import datetime as dt

import asyncpg
import pytest

from kith.config import get_settings

NOW = dt.datetime.now(dt.UTC)
ROW = "SELECT * FROM contacts WHERE id = $1"


async def arrange(client, conn: asyncpg.Connection, tenant) -> tuple[int, int]:
    """Ada made through the API, and a second Ada an import made, each with messages and a key."""
    response = await client.post(
        "/api/v1/contacts", headers=tenant.headers, json={"full_name": "Ada", "emails": ["ada@home.example"]}
    )
    assert response.status_code == 201, response.text
    ada = response.json()["id"]
    other = await conn.fetchval(
        """INSERT INTO contacts (tenant_id, full_name, emails, phones, company, title, identities, provenance)
           VALUES ($1, 'Ada Lovelace', ARRAY['ada@work.example'], ARRAY['+44 20 7946 0000'], 'Analytical Engines',
                   'Engineer', ARRAY['email:ada@work.example'],
                   '{"full_name": {"source": "vcard", "record": "u1", "at": "2024-01-01T00:00:00+00:00"},
                     "company": {"source": "vcard", "record": "u1", "at": "2024-01-01T00:00:00+00:00"}}')
           RETURNING id""",
        tenant.id,
    )
    await conn.execute(
        "INSERT INTO contact_keys (tenant_id, contact_id, kind, value) VALUES ($1, $2, 'email', 'ada@work.example')",
        tenant.id,
        other,
    )
    conversation = await conn.fetchval(
        "INSERT INTO conversations (tenant_id, user_id, external_id, contact_id) VALUES ($1, $2, 'c1', $3) RETURNING id",
        tenant.id,
        tenant.user_id,
        other,
    )
    for contact, count in ((ada, 3), (other, 4)):
        await conn.executemany(
            """INSERT INTO messages (tenant_id, conversation_id, contact_id, direction, sent_at, external_id)
               VALUES ($1, $2, $3, 'in', $4, $5)""",
            [(tenant.id, conversation, contact, NOW - dt.timedelta(days=i), f"{contact}-{i}") for i in range(count)],
        )
    return ada, other


async def rows(conn: asyncpg.Connection, tenant_id: int) -> dict[str, list]:
    """The tenant's contacts, keys, messages and conversations, as stored (changed_at aside)."""
    contacts = [
        {k: v for k, v in r.items() if k != "changed_at"}
        for r in await conn.fetch("SELECT * FROM contacts WHERE tenant_id = $1 ORDER BY id", tenant_id)
    ]
    return {
        "contacts": contacts,
        **{
            t: [
                tuple(r)
                for r in await conn.fetch(f"SELECT id, contact_id FROM {t} WHERE tenant_id = $1 ORDER BY id", tenant_id)
            ]
            for t in ("contact_keys", "messages", "conversations")
        },
    }


async def merge(client, tenant, survivor: int, merged: list[int], *, dry_run: bool = False):
    return await client.post(
        "/api/v1/contacts/merge",
        headers=tenant.headers,
        json={"survivor_id": survivor, "merge_ids": merged, "dry_run": dry_run},
    )


async def test_a_dry_run_shows_the_merged_card_and_changes_nothing(client, conn, make_tenant):
    tenant = await make_tenant()
    ada, other = await arrange(client, conn, tenant)
    before = await rows(conn, tenant.id)

    response = await merge(client, tenant, ada, [other], dry_run=True)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["merge_id"], body["dry_run"], body["messages_moved"]) == (None, True, 4)
    card = {(v["field"], str(v["value"])): v for v in body["card"]}
    assert card[("full_name", "Ada")]["source"]["source"] == "user"  # the user's own name outranks the vCard's
    assert card[("full_name", "Ada")]["contact_id"] == ada
    assert card[("company", "Analytical Engines")]["contact_id"] == other
    assert card[("company", "Analytical Engines")]["source"]["record"] == "u1"
    assert card[("title", "Engineer")]["source"] is None  # no provenance recorded for it
    assert {v["value"] for v in body["card"] if v["field"] == "emails"} == {"ada@home.example", "ada@work.example"}
    assert await rows(conn, tenant.id) == before


async def test_a_merge_moves_everything_to_the_survivor_and_a_reimport_makes_no_duplicate(client, conn, make_tenant):
    tenant = await make_tenant()
    ada, other = await arrange(client, conn, tenant)

    response = await merge(client, tenant, ada, [other])

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["merge_id"] and body["messages_moved"] == 4
    survivor = (await client.get(f"/api/v1/contacts/{ada}", headers=tenant.headers)).json()
    assert (survivor["full_name"], survivor["company"], survivor["title"]) == ("Ada", "Analytical Engines", "Engineer")
    assert sorted(survivor["emails"]) == ["ada@home.example", "ada@work.example"]
    assert survivor["last_interaction_at"] is not None and survivor["score"] > 0  # rescored with all 7 messages
    assert (await client.get(f"/api/v1/contacts/{other}", headers=tenant.headers)).status_code == 404
    timeline = (await client.get(f"/api/v1/contacts/{ada}/timeline?limit=50", headers=tenant.headers)).json()
    assert len(timeline["items"]) == 7
    assert await conn.fetchval("SELECT count(*) FROM messages WHERE contact_id = $1", ada) == 7
    assert await conn.fetchval("SELECT contact_id FROM conversations WHERE tenant_id = $1", tenant.id) == ada
    keys = await conn.fetch("SELECT value FROM contact_keys WHERE contact_id = $1 ORDER BY value", ada)
    assert [k["value"] for k in keys] == ["ada@home.example", "ada@work.example"]
    audit = (await client.get("/api/v1/audit", headers=tenant.headers)).json()["items"]
    assert [(e["action"], e["subject"]["merge_id"]) for e in audit] == [("merge", body["merge_id"])]

    vcard = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada L.\r\nEMAIL:ada@work.example\r\nEND:VCARD\r\n"
    run = await client.post(
        "/api/v1/sync/vcard", headers={**tenant.headers, "Content-Type": "text/vcard"}, content=vcard
    )
    assert run.status_code == 202, run.text
    live = "SELECT count(*) FROM contacts WHERE tenant_id = $1 AND deleted_at IS NULL"
    assert await conn.fetchval(live, tenant.id) == 1


async def test_undo_restores_the_exact_rows(client, conn, make_tenant):
    tenant = await make_tenant()
    ada, other = await arrange(client, conn, tenant)
    before = await rows(conn, tenant.id)
    merge_id = (await merge(client, tenant, ada, [other])).json()["merge_id"]

    response = await client.post(f"/api/v1/merges/{merge_id}/undo", headers=tenant.headers)

    assert response.status_code == 200, response.text
    assert response.json() == {"merge_id": merge_id, "survivor_id": ada, "restored_ids": [other], "kept_fields": []}
    assert await rows(conn, tenant.id) == before
    assert (await client.get(f"/api/v1/contacts/{other}", headers=tenant.headers)).status_code == 200
    again = await client.post(f"/api/v1/merges/{merge_id}/undo", headers=tenant.headers)
    assert again.status_code == 409
    actions = [e["action"] for e in (await client.get("/api/v1/audit", headers=tenant.headers)).json()["items"]]
    assert actions == ["undo_merge", "merge"]


async def test_undo_keeps_the_users_edits_made_after_the_merge(client, conn, make_tenant):
    tenant = await make_tenant()
    ada, other = await arrange(client, conn, tenant)
    before = await conn.fetchrow(ROW, ada)
    merge_id = (await merge(client, tenant, ada, [other])).json()["merge_id"]
    patched = await client.patch(f"/api/v1/contacts/{ada}", headers=tenant.headers, json={"title": "Countess"})
    assert patched.status_code == 200

    response = await client.post(f"/api/v1/merges/{merge_id}/undo", headers=tenant.headers)

    assert response.json()["kept_fields"] == ["title"]
    after = await conn.fetchrow(ROW, ada)
    assert after["title"] == "Countess"  # the edit made after the merge stays
    assert (after["company"], after["emails"]) == (before["company"], before["emails"])  # the rest is as before


async def test_merges_stay_inside_the_tenant_and_bad_requests_are_4xx(client, conn, make_tenant, monkeypatch):
    tenant, stranger = await make_tenant(), await make_tenant()
    ada, other = await arrange(client, conn, tenant)
    theirs, _ = await arrange(client, conn, stranger)
    before = await rows(conn, tenant.id)

    assert (await merge(client, tenant, ada, [theirs])).status_code == 404
    assert (await merge(client, stranger, ada, [other])).status_code == 404
    assert (await merge(client, tenant, ada, [ada])).status_code == 400
    assert (await merge(client, tenant, ada, [])).status_code == 400
    assert await rows(conn, tenant.id) == before

    merge_id = (await merge(client, tenant, ada, [other])).json()["merge_id"]
    assert (await client.post(f"/api/v1/merges/{merge_id}/undo", headers=stranger.headers)).status_code == 404
    assert (await client.post("/api/v1/merges/not-a-uuid/undo", headers=tenant.headers)).status_code in (400, 404)
    monkeypatch.setenv("KITH_MERGE_UNDO_DAYS", "0")
    get_settings.cache_clear()
    try:
        expired = await client.post(f"/api/v1/merges/{merge_id}/undo", headers=tenant.headers)
    finally:
        monkeypatch.delenv("KITH_MERGE_UNDO_DAYS")
        get_settings.cache_clear()
    assert expired.status_code == 409 and "undo window" in expired.json()["detail"]


@pytest.fixture(autouse=True)
def _fresh_settings():
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


PARTICIPANTS = (
    "SELECT contact_id, message_id, sent_at, direction FROM message_participants WHERE tenant_id = $1 ORDER BY 1, 2"
)


async def test_a_merge_moves_participant_rows_and_counts_a_message_once(client, conn, make_tenant):
    """Messages the merged contact was one more participant of (message_participants) are the survivor's; one
    the survivor was a participant of and that becomes its own counts once; an undo puts every row back."""
    tenant = await make_tenant()
    ada, other = await arrange(client, conn, tenant)
    bob = await conn.fetchval("INSERT INTO contacts (tenant_id, full_name) VALUES ($1, 'Bob') RETURNING id", tenant.id)
    conversation = await conn.fetchval("SELECT id FROM conversations WHERE tenant_id = $1", tenant.id)
    # Bob's with Ada's other card in Cc; the other card's with Ada in Cc; Bob's with both in Cc.
    for n, (contact, cc) in enumerate([(bob, [other]), (other, [ada]), (bob, [ada, other])], 1):
        sent_at = NOW - dt.timedelta(hours=n)
        message = await conn.fetchval(
            """INSERT INTO messages (tenant_id, conversation_id, contact_id, direction, sent_at, external_id, subject)
               VALUES ($1, $2, $3, 'out', $4, $5, $5) RETURNING id""",
            tenant.id,
            conversation,
            contact,
            sent_at,
            f"m{n}",
        )
        await conn.executemany(
            "INSERT INTO message_participants VALUES ($1, $2, $3, $4, 'out')",
            [(tenant.id, c, sent_at, message) for c in cc],
        )
    before = await conn.fetch(PARTICIPANTS, tenant.id)
    assert (
        len((await client.get(f"/api/v1/contacts/{ada}/timeline?limit=50", headers=tenant.headers)).json()["items"])
        == 5
    )

    merge_id = (await merge(client, tenant, ada, [other])).json()["merge_id"]

    items = (await client.get(f"/api/v1/contacts/{ada}/timeline?limit=50", headers=tenant.headers)).json()["items"]
    assert len(items) == 10 and len({m["id"] for m in items}) == 10  # 3 + 4 own, m2 now own, m1 and m3 as Cc
    assert sorted(m["subject"] for m in items if m["subject"]) == ["m1", "m2", "m3"]
    assert [(r["contact_id"], r["message_id"]) for r in await conn.fetch(PARTICIPANTS, tenant.id)] == [
        (ada, items_id) for items_id in sorted(m["id"] for m in items if m["subject"] in ("m1", "m3"))
    ]

    response = await client.post(f"/api/v1/merges/{merge_id}/undo", headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert await conn.fetch(PARTICIPANTS, tenant.id) == before
