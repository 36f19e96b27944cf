"""Gmail and Google Contacts through a connection, against the fake Google on a local port."""

from __future__ import annotations

import logging

from tests.conftest import read_plan_once

from kith.connectors.service import queue_due_syncs

ME = "me@example.com"


def arrange_account(google) -> None:
    google.put_person("people/c1", "Ada Lovelace", ["ada@example.com"], organizations=[{"name": "Engines"}])
    google.put_person("people/c2", "Grace Hopper", ["grace@example.com"])
    google.add_message("Ada Lovelace <ada@example.com>", ME, subject="Notes")
    google.add_message("Bob <bob@example.com>", ME, subject="Lunch?")
    google.add_message(ME, "Carol <carol@example.com>", subject="Re: plans", labels=("SENT",))
    google.add_message("News <news@lists.example.com>", ME, headers={"List-Id": "<news.lists.example.com>"})
    google.add_message("Shop <deals@shop.example.com>", ME, headers={"List-Unsubscribe": "<mailto:u@shop.example>"})
    google.add_message("Digest <digest@example.com>", ME, headers={"Precedence": "bulk"})
    google.add_message("GitHub <noreply@github.com>", ME)
    google.add_message("Draft <dan@example.com>", ME, labels=("DRAFT",))


async def counts(conn, tenant_id: int) -> tuple[int, int]:
    row = await conn.fetchrow(
        """SELECT (SELECT count(*) FROM messages WHERE tenant_id = $1) AS messages,
                  (SELECT count(*) FROM contacts WHERE tenant_id = $1 AND deleted_at IS NULL) AS contacts""",
        tenant_id,
    )
    return row["messages"], row["contacts"]


async def last_run(client, tenant) -> dict:
    connection = (await client.get("/api/v1/connections", headers=tenant.headers)).json()["items"][0]
    return (await client.get(f"/api/v1/sync/runs/{connection['last_run_id']}", headers=tenant.headers)).json()


async def test_full_then_incremental_sync_fetches_only_the_changes(client, conn, make_tenant, google, connect):
    arrange_account(google)
    tenant = await make_tenant()
    connection_id = await connect(tenant)

    run = await last_run(client, tenant)
    assert run["status"] == "succeeded", run
    assert run["source"] == "google" and set(run["stages"]) == {"sync", "score", "refresh"}
    # 2 people + 8 messages seen; newsletters, lists, bulk, no-reply and drafts skipped: 3 messages land.
    assert (run["rows_seen"], run["rows_inserted"], run["rows_skipped"]) == (10, 5, 5)
    emails = {
        r["e"] for r in await conn.fetch("SELECT unnest(emails) AS e FROM contacts WHERE tenant_id = $1", tenant.id)
    }
    assert emails == {"ada@example.com", "grace@example.com", "bob@example.com", "carol@example.com"}
    assert await counts(conn, tenant.id) == (3, 4)
    directions = {
        r["direction"]: r["e"]
        for r in await conn.fetch(
            "SELECT m.direction, c.emails[1] AS e FROM messages m JOIN contacts c ON c.id = m.contact_id WHERE m.tenant_id = $1",
            tenant.id,
        )
    }
    assert directions["out"] == "carol@example.com"
    listed = (await client.get("/api/v1/contacts?limit=200", headers=tenant.headers)).json()["items"]
    assert {c["full_name"] for c in listed} >= {"Ada Lovelace", "Grace Hopper"}

    # Changes: one new message, one deleted, one person changed, one deleted.
    google.requests.clear()
    new_id = google.add_message("Erin <erin@example.com>", ME, subject="New")
    deleted = next(i for i, m in google.messages.items() if m["payload"]["headers"][0]["value"].startswith("Bob"))
    google.delete_message(deleted)
    google.put_person("people/c1", "Ada King", ["ada@example.com"])
    google.delete_person("people/c2")
    response = await client.post(f"/api/v1/connections/{connection_id}/sync", headers=tenant.headers)
    assert response.status_code == 202, response.text
    run = (await client.get(response.headers["location"], headers=tenant.headers)).json()
    assert run["status"] == "succeeded"
    assert run["stages"]["sync"]["deleted"] == {"messages": 1, "contacts": 1, "meetings": 0}
    assert google.count("/messages", "") == 1 and google.count(f"/messages/{new_id}") == 1  # the one new message
    assert google.count("/history") == 1 and google.count("/profile") == 0
    assert google.count("/v1/people/me/connections", "syncToken=sync-") == 1
    assert await counts(conn, tenant.id) == (3, 4)  # +erin's message and contact, −bob's message, −grace
    assert await conn.fetchval("SELECT deleted_at IS NOT NULL FROM contacts WHERE 'grace@example.com' = ANY(emails)")
    assert await conn.fetchval("SELECT full_name FROM contacts WHERE 'ada@example.com' = ANY(emails)") == "Ada King"

    # Nothing changed: nothing written, nothing fetched but the change feeds.
    google.requests.clear()
    response = await client.post(f"/api/v1/connections/{connection_id}/sync", headers=tenant.headers)
    run = (await client.get(response.headers["location"], headers=tenant.headers)).json()
    assert (run["rows_inserted"], run["rows_updated"]) == (0, 0)
    assert len(google.requests) == 2  # history.list and connections.list, once each


async def test_expired_history_id_and_sync_token_fall_back_to_a_full_sync(client, conn, make_tenant, google, connect):
    arrange_account(google)
    tenant = await make_tenant()
    connection_id = await connect(tenant)
    google.add_message("Frank <frank@example.com>", ME)
    google.expire_history()
    google.expire_sync_tokens()

    response = await client.post(f"/api/v1/connections/{connection_id}/sync", headers=tenant.headers)
    run = (await client.get(response.headers["location"], headers=tenant.headers)).json()
    assert run["status"] == "succeeded"
    notes = run["stages"]["sync"]["notes"]
    assert any("EXPIRED_SYNC_TOKEN" in n for n in notes) and any("history id" in n and "404" in n for n in notes)
    assert run["rows_inserted"] == 1  # frank's message; everything else was stored already
    assert await counts(conn, tenant.id) == (4, 5)


async def test_rate_limits_and_blips_are_survived_with_nothing_lost_or_doubled(
    client, conn, make_tenant, google, connect
):
    arrange_account(google)
    google.page_size = 3  # several pages of each
    google.fail("/v1/people/me/connections", 429, retry_after="1")
    google.fail("/gmail/v1/users/me/messages/", 403, times=2)  # rateLimitExceeded, two parts of one batch
    google.fail("/gmail/v1/users/me/messages", 503)
    google.fail("/gmail/v1/users/me/history", 500)  # not reached: a first sync reads no history
    google.fail("/batch/gmail/v1", 502)  # a whole batch request
    tenant = await make_tenant()
    await connect(tenant)

    run = await last_run(client, tenant)
    assert run["status"] == "succeeded", run
    sync = run["stages"]["sync"]
    # One wait each: the people page, the message list, the batch, the two refused parts (asked again together).
    assert sync["retries"] == 4 and sync["retry_wait_seconds"] >= 1  # Retry-After: 1 honoured
    assert await counts(conn, tenant.id) == (3, 4)
    assert [f.path_part for f in google.failures] == ["/gmail/v1/users/me/history"]


async def test_rate_limits_beyond_the_retries_fail_the_run_and_the_next_sync_resumes(
    client, conn, make_tenant, google, connect
):
    arrange_account(google)
    google.page_size = 3
    google.fail("/gmail/v1/users/me/messages", 429, times=5, retry_after="0")  # more than KITH_CONNECTOR_MAX_RETRIES
    tenant = await make_tenant()
    connection_id = await connect(tenant)
    connection = (await client.get(f"/api/v1/connections/{connection_id}", headers=tenant.headers)).json()
    assert connection["last_run_status"] == "failed" and "429" in connection["last_error"]
    assert connection["status"] == "active"

    response = await client.post(f"/api/v1/connections/{connection_id}/sync", headers=tenant.headers)
    run = (await client.get(response.headers["location"], headers=tenant.headers)).json()
    assert run["status"] == "succeeded"
    assert await counts(conn, tenant.id) == (3, 4)
    connection = (await client.get(f"/api/v1/connections/{connection_id}", headers=tenant.headers)).json()
    assert connection["last_error"] is None and connection["last_sync_at"] is not None


async def test_a_revoked_grant_needs_reauth_and_stops_the_schedule(client, conn, engine, make_tenant, google, connect):
    arrange_account(google)
    tenant = await make_tenant()
    refresh_token = google.grant()
    connection_id = await connect(tenant, refresh_token)
    google.revoke(refresh_token)  # and its access tokens
    await conn.execute("UPDATE connections SET next_sync_at = now() - interval '1 minute'")

    assert await queue_due_syncs(engine) == 1
    connection = (await client.get(f"/api/v1/connections/{connection_id}", headers=tenant.headers)).json()
    assert connection["status"] == "needs_reauth" and "invalid_grant" in connection["last_error"]
    assert connection["last_run_status"] == "failed"
    await conn.execute("UPDATE connections SET next_sync_at = now() - interval '1 minute'")
    assert await queue_due_syncs(engine) == 0
    response = await client.post(f"/api/v1/connections/{connection_id}/sync", headers=tenant.headers)
    assert response.status_code == 409


async def test_tokens_are_encrypted_at_rest_and_never_shown_or_logged(
    client, conn, make_tenant, google, connect, caplog
):
    caplog.set_level(logging.DEBUG)
    arrange_account(google)
    tenant = await make_tenant()
    refresh_token = google.grant()
    connection_id = await connect(tenant, refresh_token)
    await conn.execute("UPDATE connections SET access_expires_at = now()")  # the next sync refreshes it
    await client.post(f"/api/v1/connections/{connection_id}/sync", headers=tenant.headers)
    access_tokens = list(google.access_tokens)
    assert len(access_tokens) >= 2

    row = await conn.fetchrow(
        "SELECT refresh_token, access_token, scopes FROM connections WHERE id = $1", connection_id
    )
    stored = bytes(row["refresh_token"]) + bytes(row["access_token"])
    secrets = [refresh_token, *access_tokens]
    assert not any(s.encode() in stored for s in secrets)
    assert row["refresh_token"].startswith(b"gAAAAA")  # a Fernet token
    shown = (await client.get("/api/v1/connections", headers=tenant.headers)).text
    shown += (await client.get(f"/api/v1/connections/{connection_id}", headers=tenant.headers)).text
    assert not any(s in shown for s in secrets) and "refresh_token" not in shown
    assert not any(s in caplog.text for s in secrets)


async def test_another_tenant_cannot_see_sync_or_delete_a_connection(client, conn, make_tenant, google, connect):
    arrange_account(google)
    owner, other = await make_tenant(), await make_tenant()
    connection_id = await connect(owner)

    assert (await client.get("/api/v1/connections", headers=other.headers)).json()["items"] == []
    assert (await client.get(f"/api/v1/connections/{connection_id}", headers=other.headers)).status_code == 404
    assert (await client.post(f"/api/v1/connections/{connection_id}/sync", headers=other.headers)).status_code == 404
    assert (await client.delete(f"/api/v1/connections/{connection_id}", headers=other.headers)).status_code == 404
    assert await counts(conn, other.id) == (0, 0)

    assert (await client.delete(f"/api/v1/connections/{connection_id}", headers=owner.headers)).status_code == 204
    assert (await client.get("/api/v1/connections", headers=owner.headers)).json()["items"] == []
    assert await counts(conn, owner.id) == (3, 4)  # what it imported stays


async def test_the_connections_listing_is_one_statement(client, conn, make_tenant, google, connect, statements):
    tenant = await make_tenant()
    await connect(tenant)
    await conn.execute(  # a second account
        "INSERT INTO connections (tenant_id, user_id, provider, account, refresh_token)"
        " VALUES ($1, $2, 'google', 'other@example.com', '\\x00')",
        tenant.id,
        tenant.user_id,
    )
    await read_plan_once(client, tenant.headers)
    statements.reset()
    first = await client.get("/api/v1/connections", params={"limit": 1}, headers=tenant.headers)
    assert first.json()["items"][0]["account"] == "other@example.com"
    assert statements.count == 1, statements.statements  # the page (the token is known)
    statements.reset()
    second = await client.get(
        "/api/v1/connections", params={"limit": 1, "cursor": first.json()["next_cursor"]}, headers=tenant.headers
    )
    assert second.json()["items"][0]["account"] == ME and second.json()["next_cursor"] is None
    assert statements.count == 1, statements.statements


async def test_gmail_cc_is_a_participant_and_leaves_with_its_message(client, conn, make_tenant, google, connect):
    """As in an mbox: everyone in From/To/Cc but the user (and addresses nobody reads) is on the message's
    timeline; a message deleted at Gmail takes its participant rows with it."""
    message = google.add_message(
        "Ada <ada@example.com>", f"{ME}, Bob <bob@example.com>", headers={"Cc": "Eve <eve@example.com>, noreply@x.org"}
    )
    tenant = await make_tenant()
    connection_id = await connect(tenant)
    assert (await last_run(client, tenant))["status"] == "succeeded"
    people = (
        "SELECT c.emails[1] FROM message_participants p JOIN contacts c ON c.id = p.contact_id WHERE p.tenant_id = $1"
    )
    assert sorted(r[0] for r in await conn.fetch(people, tenant.id)) == ["bob@example.com", "eve@example.com"]
    eve = await conn.fetchval(
        "SELECT id FROM contacts WHERE tenant_id = $1 AND emails[1] = 'eve@example.com'", tenant.id
    )
    timeline = (await client.get(f"/api/v1/contacts/{eve}/timeline", headers=tenant.headers)).json()["items"]
    assert [m["subject"] for m in timeline] == ["Hello"]

    google.delete_message(message)
    response = await client.post(f"/api/v1/connections/{connection_id}/sync", headers=tenant.headers)
    assert (await client.get(response.headers["location"], headers=tenant.headers)).json()["status"] == "succeeded"
    assert await conn.fetch(people, tenant.id) == []
    assert (await client.get(f"/api/v1/contacts/{eve}/timeline", headers=tenant.headers)).json()["items"] == []


async def test_a_gmail_broadcast_lands_as_an_mbox_one(client, conn, make_tenant, google, connect):
    """The rule an mbox follows (kith.sync.sources.records.MAX_PARTICIPANTS): a message from Ada to the user
    and 80 others makes Ada's contact and its first 50 participants', the other 30 nothing, and the run
    counts them."""
    from kith.sync.sources.records import BROADCAST_PARTICIPANTS, MAX_PARTICIPANTS

    to = ", ".join([ME, *(f"P{i} <p{i}@example.com>" for i in range(80))])
    google.add_message("Ada <ada@example.com>", to)
    tenant = await make_tenant()
    await connect(tenant)
    run = await last_run(client, tenant)
    assert run["status"] == "succeeded", run
    assert run["stages"]["sync"]["dropped"] == {BROADCAST_PARTICIPANTS: 80 - MAX_PARTICIPANTS}
    people = (
        "SELECT c.emails[1] FROM message_participants p JOIN contacts c ON c.id = p.contact_id WHERE p.tenant_id = $1"
    )
    assert {r[0] for r in await conn.fetch(people, tenant.id)} == {f"p{i}@example.com" for i in range(MAX_PARTICIPANTS)}
    assert await counts(conn, tenant.id) == (1, 1 + MAX_PARTICIPANTS)
