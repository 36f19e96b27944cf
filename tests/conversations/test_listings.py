"""Conversation, message and timeline listings: golden order against plain ORDER BY queries over the base
tables, walks both ways (also opened at before=/after= and under writes), one statement per page, ETag/304."""

from __future__ import annotations

import datetime as dt

import pytest
from tests.conftest import read_plan_once
from tests.conversations.conftest import NOW, connect

# The plain queries over the base tables each listing must reproduce.
LAST_MESSAGE = (
    "(SELECT m.{column} FROM messages m WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id "
    "ORDER BY m.sent_at DESC, m.id DESC LIMIT 1)"
)
FIRST_CONTACT = (
    "(SELECT m.contact_id FROM messages m WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id "
    "AND m.contact_id IS NOT NULL ORDER BY m.sent_at, m.id LIMIT 1)"
)
GOLDEN_CONVERSATIONS = f"""
    SELECT c.id,
           coalesce(c.contact_id, {FIRST_CONTACT}) AS contact_id,
           c.channel, c.subject,
           (SELECT count(*) FROM messages m WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id)
               AS message_count,
           {LAST_MESSAGE.format(column="sent_at")} AS last_message_at,
           {LAST_MESSAGE.format(column="direction")} AS last_direction,
           {LAST_MESSAGE.format(column="body")} AS last_body,
           coalesce({LAST_MESSAGE.format(column="sent_at")}, c.created_at) AS last_activity_at
    FROM conversations c WHERE c.tenant_id = $1
    ORDER BY last_activity_at DESC, c.id DESC
"""
FILTERS = [None, ("channel", "sms"), ("awaiting_reply", True), ("awaiting_reply", False), ("contact_id", 0)]


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


async def golden_conversations(url: str, tenant_id: int, flt: tuple | None = None) -> list[dict]:
    """Each conversation as the API should show it, in the listing's order, filtered in Python."""
    conn = await connect(url)
    try:
        rows = await conn.fetch(GOLDEN_CONVERSATIONS, tenant_id)
    finally:
        await conn.close()
    items = [
        {
            "id": r["id"],
            "contact_id": r["contact_id"],
            "channel": r["channel"],
            "subject": r["subject"],
            "message_count": r["message_count"],
            "last_message_at": _iso(r["last_message_at"]),
            "last_direction": r["last_direction"],
            "preview": None if r["last_body"] is None else r["last_body"][:100],
            "awaiting_reply": r["last_direction"] == "in",
            "last_activity_at": _iso(r["last_activity_at"]),
        }
        for r in rows
    ]
    if flt is not None:
        items = [item for item in items if item[flt[0]] == flt[1]]
    return items


async def golden_message_ids(url: str, tenant_id: int, column: str, parent_id: int, where: str = "true") -> list[int]:
    conn = await connect(url)
    try:
        rows = await conn.fetch(
            f"SELECT id FROM messages WHERE tenant_id = $1 AND {column} = $2 AND {where} ORDER BY sent_at DESC, id DESC",
            tenant_id,
            parent_id,
        )
    finally:
        await conn.close()
    return [r["id"] for r in rows]


async def get_page(client, headers, path, params):
    response = await client.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def walk(client, headers, path, params, *, limit=4, backwards_from_end=False):
    """Every page forward (following next_cursor); optionally then every page backward from the last one."""
    pages, cursor = [], None
    while True:
        body = await get_page(
            client, headers, path, {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        )
        assert len(body["items"]) <= limit
        pages.append(body)
        cursor = body["next_cursor"]
        if cursor is None:
            break
    forward = [item for page in pages for item in page["items"]]
    if not backwards_from_end:
        return forward, None
    backward, cursor = list(pages[-1]["items"]), pages[-1]["prev_cursor"]
    while cursor:
        body = await get_page(client, headers, path, {**params, "limit": limit, "cursor": cursor})
        backward = body["items"] + backward
        cursor = body["prev_cursor"]
    return forward, backward


def comparable(items: list[dict]) -> list[dict]:
    return [{k: v for k, v in item.items() if k != "created_at"} for item in items]


@pytest.mark.parametrize("flt", FILTERS, ids=lambda f: "none" if f is None else f"{f[0]}={f[1]}")
async def test_conversations_walk_matches_plain_order_by_both_ways(client, db, populated, flt):
    if flt and flt[0] == "contact_id":
        flt = ("contact_id", populated.data["contacts"][0])
    params = {flt[0]: str(flt[1]).lower() if isinstance(flt[1], bool) else flt[1]} if flt else {}
    forward, backward = await walk(client, populated.headers, "/api/v1/conversations", params, backwards_from_end=True)
    expected = await golden_conversations(db, populated.id, flt)
    assert comparable(forward) == expected
    assert comparable(backward) == expected
    assert expected, "the filter should match some conversations"
    if flt is None:
        assert len(expected) == 30


async def test_one_conversation_matches_the_listing(client, populated):
    listed = (await client.get("/api/v1/conversations", params={"limit": 200}, headers=populated.headers)).json()
    for item in listed["items"][:10]:
        one = await client.get(f"/api/v1/conversations/{item['id']}", headers=populated.headers)
        assert one.status_code == 200 and one.json() == item


async def test_a_thread_and_a_timeline_walk_both_ways(client, db, populated):
    for conversation in populated.data["conversations"][:10]:
        path = f"/api/v1/conversations/{conversation}/messages"
        forward, backward = await walk(client, populated.headers, path, {}, limit=2, backwards_from_end=True)
        expected = await golden_message_ids(db, populated.id, "conversation_id", conversation)
        assert [m["id"] for m in forward] == expected == [m["id"] for m in backward]
        assert all(m["conversation_id"] == conversation for m in forward)
    for contact in populated.data["contacts"][:6]:
        path = f"/api/v1/contacts/{contact}/timeline"
        forward, backward = await walk(client, populated.headers, path, {}, limit=3, backwards_from_end=True)
        expected = await golden_message_ids(db, populated.id, "contact_id", contact)
        assert [m["id"] for m in forward] == expected == [m["id"] for m in backward]
        assert expected


@pytest.mark.parametrize("kind", ["conversation", "timeline"])
@pytest.mark.parametrize("days", [0.5, 1, 40, 1000])
async def test_before_and_after_open_the_thread_at_a_moment(client, db, populated, kind, days):
    """before=t: the newest messages older than t, then older on; after=t: the oldest newer than t, newest first,
    then newer on (prev) -- together exactly the thread, split at t."""
    if kind == "conversation":
        parent, column = max(populated.data["conversations"][:9]), "conversation_id"
        path = f"/api/v1/conversations/{parent}/messages"
    else:
        parent, column = populated.data["contacts"][1], "contact_id"
        path = f"/api/v1/contacts/{parent}/timeline"
    moment = NOW - dt.timedelta(days=days)
    h = populated.headers
    older = await golden_message_ids(db, populated.id, column, parent, f"sent_at < '{moment.isoformat()}'")
    newer = await golden_message_ids(db, populated.id, column, parent, f"sent_at > '{moment.isoformat()}'")

    opened, _ = await walk(client, h, path, {"before": moment.isoformat()}, limit=2)
    assert [m["id"] for m in opened] == older

    first = await get_page(client, h, path, {"after": moment.isoformat(), "limit": 2})
    assert [m["id"] for m in first["items"]] == newer[-2:]  # the oldest two newer than t, newest first
    collected, cursor = [m["id"] for m in first["items"]], first["prev_cursor"]
    while cursor:  # scrolling toward the present
        body = await get_page(client, h, path, {"after": moment.isoformat(), "limit": 2, "cursor": cursor})
        collected = [m["id"] for m in body["items"]] + collected
        cursor = body["prev_cursor"]
    assert collected == newer
    if first["items"]:
        assert first["next_cursor"]  # and on into the past from there
        body = await get_page(client, h, path, {"limit": 200, "cursor": first["next_cursor"]})
        everything = await golden_message_ids(db, populated.id, column, parent)
        assert [m["id"] for m in body["items"]] == everything[len(newer) :]


async def test_before_and_after_are_validated(client, populated):
    path = f"/api/v1/conversations/{populated.data['conversations'][0]}/messages"
    h = populated.headers
    for params in (
        {"before": "yesterday"},
        {"after": "2026-13-01T00:00:00Z"},
        {"before": "2026-01-01T00:00:00Z", "after": "2025-01-01T00:00:00Z"},
    ):
        response = await client.get(path, params=params, headers=h)
        assert response.status_code == 400, (params, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_walks_under_writes_never_repeat_or_skip(client, db, populated):
    """Between pages: new conversations start and seen ones get messages (both jump to the top, behind the walk);
    every conversation that existed before is seen exactly once. A thread walked while messages arrive likewise."""
    h = populated.headers
    before = {item["id"] for item in await golden_conversations(db, populated.id)}
    seen: list[int] = []
    cursor = None
    while True:
        body = await get_page(
            client, h, "/api/v1/conversations", {"limit": 4, **({"cursor": cursor} if cursor else {})}
        )
        seen += [item["id"] for item in body["items"]]
        contact = populated.data["contacts"][len(seen) % 12]
        assert (await client.post("/api/v1/conversations", json={"contact_id": contact}, headers=h)).status_code == 201
        if seen:
            sent = await client.post(f"/api/v1/conversations/{seen[0]}/messages", json={"body": "again"}, headers=h)
            assert sent.status_code == 201
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)), "a conversation appeared twice"
    assert before <= set(seen), "a conversation that existed before the walk was skipped"

    thread = populated.data["conversations"][0]
    existing = await golden_message_ids(db, populated.id, "conversation_id", thread)
    walked, cursor = [], None
    while True:
        path = f"/api/v1/conversations/{thread}/messages"
        body = await get_page(client, h, path, {"limit": 2, **({"cursor": cursor} if cursor else {})})
        walked += [m["id"] for m in body["items"]]
        await client.post(path, json={"body": "meanwhile"}, headers=h)
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert walked == existing


async def test_envelope_headers_and_conditional_get(client, populated):
    h = populated.headers
    response = await client.get("/api/v1/conversations", params={"limit": 5}, headers=h)
    body = response.json()
    assert set(body) == {"items", "next_cursor", "prev_cursor", "as_of"}
    assert body["as_of"] and response.headers["x-data-as-of"] and body["next_cursor"]
    assert 'rel="next"' in response.headers["link"]
    cached = await client.get(
        "/api/v1/conversations", params={"limit": 5}, headers={**h, "If-None-Match": response.headers["etag"]}
    )
    assert cached.status_code == 304 and cached.content == b""
    conversation = body["items"][-1]["id"]
    await client.post(f"/api/v1/conversations/{conversation}/messages", json={"body": "changes the page"}, headers=h)
    changed = await client.get(
        "/api/v1/conversations", params={"limit": 5}, headers={**h, "If-None-Match": response.headers["etag"]}
    )
    assert changed.status_code == 200 and changed.json()["items"][0]["id"] == conversation

    path = f"/api/v1/conversations/{conversation}/messages"
    thread = await client.get(path, params={"limit": 2}, headers=h)
    assert thread.json()["as_of"] is None  # read from the base table: always current
    again = await client.get(path, params={"limit": 2}, headers={**h, "If-None-Match": thread.headers["etag"]})
    assert again.status_code == 304


@pytest.mark.parametrize(
    "path, params",
    [
        ("/api/v1/conversations", {}),
        ("/api/v1/conversations", {"channel": "email"}),
        ("/api/v1/conversations", {"awaiting_reply": "true"}),
        ("/api/v1/conversations/{conversation}/messages", {}),
        ("/api/v1/conversations/{conversation}/messages", {"before": NOW.isoformat()}),
        ("/api/v1/conversations/{conversation}/messages", {"after": (NOW - dt.timedelta(days=500)).isoformat()}),
        ("/api/v1/contacts/{contact}/timeline", {}),
    ],
)
async def test_each_listing_page_is_one_statement_after_auth(client, populated, statements, path, params):
    path = path.format(conversation=populated.data["conversations"][0], contact=populated.data["contacts"][0])
    await read_plan_once(client, populated.headers)
    statements.reset()
    first = await client.get(path, params={**params, "limit": 1}, headers=populated.headers)
    assert first.status_code == 200 and first.json()["items"]
    assert statements.count == 1, statements.statements  # the page (the token is known)
    cursor = first.json()["next_cursor"] or first.json()["prev_cursor"]
    assert cursor
    statements.reset()
    second = await client.get(path, params={**params, "limit": 1, "cursor": cursor}, headers=populated.headers)
    assert second.status_code == 200
    assert statements.count == 1, statements.statements


async def test_one_conversation_and_a_missing_parent_are_one_statement(client, populated, statements):
    conversation = populated.data["conversations"][0]
    await read_plan_once(client, populated.headers)
    statements.reset()
    assert (await client.get(f"/api/v1/conversations/{conversation}", headers=populated.headers)).status_code == 200
    assert statements.count == 1
    statements.reset()
    missing = await client.get("/api/v1/conversations/999999999/messages", headers=populated.headers)
    assert missing.status_code == 404
    assert statements.count == 1, statements.statements  # the guard answered in the page's statement


async def test_listing_pages_seek_on_an_index(db, populated):
    """Each listing's statement reads index ranges, never a sequential scan or a sort of the whole relation."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from kith.conversations import listings
    from kith.db.urls import sqlalchemy_url
    from kith.pagination.listing import ListingRequest, Position

    cases = [
        (listings.CONVERSATIONS, {}, {}),
        (listings.CONVERSATIONS, {"channel": "sms"}, {}),
        (listings.CONVERSATIONS, {"contact_id": 1}, {}),
        (listings.CONVERSATIONS, {"awaiting_reply": True}, {}),
        (listings.MESSAGES, {}, {"conversation_id": 1}),
        (listings.TIMELINE, {}, {"contact_id": 1}),
    ]
    engine = create_async_engine(sqlalchemy_url(db))
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("SET enable_seqscan = off")  # tiny tables: make the planner show its hand
            for listing, filters, scope in cases:
                for direction in ("next", "prev"):
                    request = ListingRequest(
                        tenant_id=populated.id,
                        limit=50,
                        filters=filters,
                        scope=scope,
                        start=Position(direction, (NOW, 1)),
                    )
                    prepared = listing.prepare(request)
                    plan = "\n".join(
                        r[0]
                        for r in (await conn.execute(text("EXPLAIN " + prepared.statement.text), prepared.params)).all()
                    )
                    assert "Seq Scan on conversation_summaries" not in plan, plan
                    assert "Seq Scan on messages" not in plan, plan
                    assert "Index" in plan
    finally:
        await engine.dispose()
