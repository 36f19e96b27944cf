"""Conversation writes: fresh reads right after each write (and the same answer after a refresh), validation
with nothing half-written, and tenant isolation of every id and cursor."""

from __future__ import annotations

import pytest
from tests.conversations.conftest import connect, refresh
from tests.conversations.test_listings import golden_conversations

from kith.conversations.schemas import MAX_MESSAGE_CHARS, MAX_MESSAGE_REQUEST_BYTES


async def counts(db, tenant_id) -> tuple[int, int]:
    conn = await connect(db)
    try:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM conversations WHERE tenant_id = $1) AS conversations, "
            "(SELECT count(*) FROM messages WHERE tenant_id = $1) AS messages",
            tenant_id,
        )
    finally:
        await conn.close()
    return row["conversations"], row["messages"]


async def contact_ids_by(db, tenant_id, order: str) -> list[int]:
    conn = await connect(db)
    try:
        rows = await conn.fetch(
            f"SELECT c.id FROM contacts c WHERE c.tenant_id = $1 AND c.deleted_at IS NULL ORDER BY {order}", tenant_id
        )
    finally:
        await conn.close()
    return [r["id"] for r in rows]


async def listing(client, headers, path, **params) -> list[dict]:
    response = await client.get(path, params={"limit": 200, **params}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_a_sent_message_is_read_fresh_everywhere_then_the_same_after_a_refresh(client, db, populated):
    h = populated.headers
    conversations = await listing(client, h, "/api/v1/conversations")
    # The conversation listed last (oldest activity) whose contact is known.
    target = next(c for c in reversed(conversations) if c["contact_id"] is not None and c["message_count"])
    contact = target["contact_id"]
    card_before = (await client.get(f"/api/v1/contacts/{contact}", headers=h)).json()
    body = "Sounds great — see you Thursday! " + "ø" * 150

    sent = await client.post(f"/api/v1/conversations/{target['id']}/messages", json={"body": body}, headers=h)
    assert sent.status_code == 201, sent.text
    message = sent.json()
    assert message["direction"] == "out" and message["contact_id"] == contact and message["body"] == body

    async def assert_fresh() -> list[dict]:
        listed = await listing(client, h, "/api/v1/conversations")
        top = listed[0]
        assert top["id"] == target["id"]
        assert top["preview"] == body[:100] and len(top["preview"]) == 100
        assert top["last_message_at"] == top["last_activity_at"] == message["sent_at"]
        assert top["message_count"] == target["message_count"] + 1
        assert top["last_direction"] == "out" and top["awaiting_reply"] is False
        assert [c["id"] for c in listed] == [c["id"] for c in await golden_conversations(db, populated.id)]
        assert target["id"] not in [
            c["id"] for c in await listing(client, h, "/api/v1/conversations", awaiting_reply="true")
        ]
        assert (await client.get(f"/api/v1/conversations/{target['id']}", headers=h)).json() == top
        thread = await listing(client, h, f"/api/v1/conversations/{target['id']}/messages", limit=1)
        assert thread == [message]
        assert (await listing(client, h, f"/api/v1/contacts/{contact}/timeline", limit=1)) == [message]
        # The contact: its last interaction is now, and the score order reflects its new score.
        by_recency = await listing(client, h, "/api/v1/contacts", sort="last_interaction")
        assert by_recency[0]["id"] == contact and by_recency[0]["last_interaction_at"] == message["sent_at"]
        by_score = await listing(client, h, "/api/v1/contacts", sort="score")
        assert [c["id"] for c in by_score] == await contact_ids_by(db, populated.id, "c.score DESC, c.id DESC")
        card = next(c for c in by_score if c["id"] == contact)
        assert card["score"] > card_before["score"]
        return listed

    fresh = await assert_fresh()  # no refresh in between
    await refresh(db)
    assert await assert_fresh() == fresh


async def test_a_refresh_clears_the_marks_it_has_taken_in(client, db, populated):
    """The live read seeks a partial index of marked conversations: a refresh leaves only newer marks in it."""
    conversation = (await listing(client, populated.headers, "/api/v1/conversations"))[-1]["id"]
    sent = await client.post(
        f"/api/v1/conversations/{conversation}/messages", json={"body": "hi"}, headers=populated.headers
    )
    assert sent.status_code == 201
    conn = await connect(db)
    try:
        marked = "SELECT count(*) FROM conversations WHERE tenant_id = $1 AND changed_at IS NOT NULL"
        assert await conn.fetchval(marked, populated.id) >= 1
        await refresh(db)
        assert await conn.fetchval(marked, populated.id) == 0
        # What the refresh took in is listed from the view, unchanged.
        top = (await listing(client, populated.headers, "/api/v1/conversations"))[0]
        assert top["id"] == conversation and top["preview"] == "hi"
    finally:
        await conn.close()


async def test_a_new_conversation_is_listed_at_once_then_the_same_after_a_refresh(client, db, populated):
    h = populated.headers
    contact = populated.data["contacts"][3]
    created = await client.post(
        "/api/v1/conversations", json={"contact_id": contact, "channel": "sms", "subject": "New"}, headers=h
    )
    assert created.status_code == 201, created.text
    summary = created.json()
    assert summary["contact_id"] == contact and summary["channel"] == "sms" and summary["subject"] == "New"
    assert summary["message_count"] == 0 and summary["preview"] is None and summary["awaiting_reply"] is False
    assert summary["last_message_at"] is None and summary["last_activity_at"] == summary["created_at"]

    async def assert_listed() -> None:
        assert (await listing(client, h, "/api/v1/conversations"))[0] == summary
        assert (await listing(client, h, "/api/v1/conversations", channel="sms"))[0] == summary
        assert summary in await listing(client, h, "/api/v1/conversations", contact_id=contact)
        assert (await client.get(f"/api/v1/conversations/{summary['id']}", headers=h)).json() == summary
        assert await listing(client, h, f"/api/v1/conversations/{summary['id']}/messages") == []

    await assert_listed()
    await refresh(db)
    await assert_listed()

    sent = await client.post(f"/api/v1/conversations/{summary['id']}/messages", json={"body": "Hi!"}, headers=h)
    assert sent.json()["contact_id"] == contact and sent.json()["channel"] == "sms"
    assert (await listing(client, h, "/api/v1/conversations"))[0]["preview"] == "Hi!"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"contact_id": None},
        {"contact_id": "one"},
        {"contact_id": 0},
        {"contact_id": 2**63},
        {"contact_id": 1, "channel": "pigeon"},
        {"contact_id": 1, "subject": "s" * 501},
        {"contact_id": 1, "id": 5},
        {"contact_id": 999_999_999},  # no such contact
    ],
)
async def test_bad_conversations_are_400_and_write_nothing(client, db, populated, body):
    before = await counts(db, populated.id)
    response = await client.post("/api/v1/conversations", json=body, headers=populated.headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await counts(db, populated.id) == before


async def test_bad_messages_are_4xx_problems_and_write_nothing(client, db, populated):
    h = populated.headers
    path = f"/api/v1/conversations/{populated.data['conversations'][0]}/messages"
    before = await counts(db, populated.id)
    for body in ({}, {"body": ""}, {"body": None}, {"body": 5}, {"body": "x", "direction": "in"}):
        response = await client.post(path, json=body, headers=h)
        assert response.status_code == 400, (body, response.text)
    too_long = await client.post(path, json={"body": "x" * (MAX_MESSAGE_CHARS + 1)}, headers=h)
    assert too_long.status_code == 422, too_long.text
    assert too_long.headers["content-type"].startswith("application/problem+json")
    assert too_long.json()["max_length"] == MAX_MESSAGE_CHARS
    huge = await client.post(path, json={"body": "x" * MAX_MESSAGE_REQUEST_BYTES}, headers=h)
    assert huge.status_code == 413, huge.text
    malformed = await client.post(path, content=b"{not json", headers={**h, "content-type": "application/json"})
    assert malformed.status_code == 400
    assert (
        await client.post("/api/v1/conversations/999999999/messages", json={"body": "x"}, headers=h)
    ).status_code == 404
    assert await counts(db, populated.id) == before
    just_fits = await client.post(path, json={"body": "é" * MAX_MESSAGE_CHARS}, headers=h)
    assert just_fits.status_code == 201


async def test_every_id_and_cursor_of_another_tenant_is_a_404_or_400_with_none_of_its_rows(client, db, populated):
    """Tenant A's ids and cursors through neighbour B's token."""
    a, b = populated, populated.neighbour
    a_conversation, a_contact = a.data["conversations"][0], a.data["contacts"][0]
    b_before, a_before = await counts(db, b.id), await counts(db, a.id)
    for path in (
        f"/api/v1/conversations/{a_conversation}",
        f"/api/v1/conversations/{a_conversation}/messages",
        f"/api/v1/contacts/{a_contact}/timeline",
    ):
        response = await client.get(path, headers=b.headers)
        assert response.status_code == 404, path
        assert set(response.json()) <= {"status", "title", "detail", "type"}  # a problem, no row of A
    sent = await client.post(f"/api/v1/conversations/{a_conversation}/messages", json={"body": "x"}, headers=b.headers)
    assert sent.status_code == 404
    started = await client.post("/api/v1/conversations", json={"contact_id": a_contact}, headers=b.headers)
    assert started.status_code == 400
    assert await counts(db, b.id) == b_before and await counts(db, a.id) == a_before

    # A filter naming A's contact finds nothing of A's.
    assert await listing(client, b.headers, "/api/v1/conversations", contact_id=a_contact) == []

    # A's cursors: a 400 on every listing of B, whatever B asks for.
    b_ids = {c["id"] for c in await listing(client, b.headers, "/api/v1/conversations")}
    cursors = []
    for path in (
        "/api/v1/conversations",
        f"/api/v1/conversations/{a_conversation}/messages",
        f"/api/v1/contacts/{a_contact}/timeline",
    ):
        body = (await client.get(path, params={"limit": 1}, headers=a.headers)).json()
        assert body["next_cursor"], path
        cursors.append(body["next_cursor"])
    b_paths = [
        "/api/v1/conversations",
        f"/api/v1/conversations/{b.data['conversations'][0]}/messages",
        f"/api/v1/contacts/{b.data['contacts'][0]}/timeline",
    ]
    for cursor in cursors:
        for path in b_paths:
            response = await client.get(path, params={"cursor": cursor}, headers=b.headers)
            assert response.status_code == 400, (path, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
    assert {c["id"] for c in await listing(client, b.headers, "/api/v1/conversations")} == b_ids

    # And a cursor of one of A's threads does not open another of A's threads.
    other = a.data["conversations"][1]
    response = await client.get(
        f"/api/v1/conversations/{other}/messages", params={"cursor": cursors[1]}, headers=a.headers
    )
    assert response.status_code == 400
