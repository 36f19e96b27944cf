"""Contact listings: golden order against plain ORDER BY queries, walks both ways, under writes, statement counts."""

from __future__ import annotations

import datetime as dt
import re

import asyncpg
import pytest
from tests.conftest import connect, read_plan_once
from tests.contacts.conftest import NOW

SAMPLE_KEY = {float: 50.0, str: "m", dt.datetime: NOW, int: 1}

# The plain ORDER BY over the base tables each sort must reproduce.
LAST_INTERACTION = "(SELECT max(m.sent_at) FROM messages m WHERE m.tenant_id = c.tenant_id AND m.contact_id = c.id)"
GOLDEN_ORDER = {
    "score": "c.score DESC, c.id DESC",
    "name": 'lower(c.full_name) COLLATE "C", c.id',
    "last_interaction": f"{LAST_INTERACTION} DESC NULLS LAST, c.id DESC",
    "created": "c.created_at DESC, c.id DESC",
}
# Each field on its own, unaccented then case-folded, as a substring (the view joins them into one key).
UNACCENTED = "lower(unaccent({}))"
GOLDEN_FILTER = {
    "tag": "EXISTS (SELECT 1 FROM unnest(c.tags) t WHERE lower(t) = lower($2))",
    "company": "lower(c.company) = lower($2)",
    "q": (
        f"(strpos({UNACCENTED.format('c.full_name')}, {UNACCENTED.format('$2')}) > 0"
        f" OR strpos({UNACCENTED.format('c.company')}, {UNACCENTED.format('$2')}) > 0"
        f" OR EXISTS (SELECT 1 FROM unnest(c.emails) e WHERE strpos(lower(e), lower($2)) > 0))"
    ),
    "min_score": "c.score >= $2::float8",
}
FILTER_VALUES = [
    None,
    ("tag", "work"),
    ("tag", "ÉCOLE"),
    ("company", "Acme"),
    ("company", "gLOBEX"),
    ("q", "ann"),
    ("q", "ZO"),
    ("q", "nunez"),
    ("q", "MITH"),
    ("q", "émile.1"),
    ("min_score", 25.5),
]


async def golden_ids(url: str, tenant_id: int, sort: str, flt: tuple | None) -> list[int]:
    where = "c.tenant_id = $1 AND c.deleted_at IS NULL"
    args: list = [tenant_id]
    if flt:
        where += " AND " + GOLDEN_FILTER[flt[0]]
        args.append(str(flt[1]) if flt[0] != "min_score" else flt[1])
    conn = await connect(url)
    try:
        rows = await conn.fetch(f"SELECT c.id FROM contacts c WHERE {where} ORDER BY {GOLDEN_ORDER[sort]}", *args)
    finally:
        await conn.close()
    return [r["id"] for r in rows]


async def walk(client, headers, path, params, *, limit=7, backwards_from_end=False):
    """Every page forward; optionally then every page backward from the last one."""
    pages, cursor = [], None
    while True:
        response = await client.get(
            path, params={**params, "limit": limit, **({"cursor": cursor} if cursor else {})}, headers=headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= limit
        pages.append(body)
        cursor = body["next_cursor"]
        if cursor is None:
            break
    forward = [item["id"] for page in pages for item in page["items"]]
    if not backwards_from_end:
        return forward, None
    backward, cursor = [], pages[-1]["prev_cursor"]
    backward = [item["id"] for item in pages[-1]["items"]]
    while cursor:
        response = await client.get(path, params={**params, "limit": limit, "cursor": cursor}, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        backward = [item["id"] for item in body["items"]] + backward
        cursor = body["prev_cursor"]
    return forward, backward


@pytest.mark.parametrize("sort", list(GOLDEN_ORDER))
@pytest.mark.parametrize("flt", FILTER_VALUES, ids=lambda f: "none" if f is None else f"{f[0]}={f[1]}")
async def test_walk_matches_plain_order_by_both_ways(client, db, populated, sort, flt):
    params = {"sort": sort, **({flt[0]: flt[1]} if flt else {})}
    forward, backward = await walk(client, populated.headers, "/api/v1/contacts", params, backwards_from_end=True)
    expected = await golden_ids(db, populated.id, sort, flt)
    assert forward == expected
    assert backward == expected
    if flt is None:
        assert len(expected) == 60


async def test_writes_since_refresh_are_merged_live(client, db, populated):
    """Creates, edits and deletes made after the refresh show in the very next page, in order."""
    h = populated.headers
    created = (
        await client.post("/api/v1/contacts", json={"full_name": "Aaron Early", "tags": ["work"]}, headers=h)
    ).json()
    listing = (await client.get("/api/v1/contacts", params={"sort": "name", "limit": 200}, headers=h)).json()
    victim, renamed = listing["items"][5]["id"], listing["items"][6]["id"]
    assert (await client.delete(f"/api/v1/contacts/{victim}", headers=h)).status_code == 204
    patched = await client.patch(f"/api/v1/contacts/{renamed}", json={"full_name": "Zyx Renamed"}, headers=h)
    assert patched.status_code == 200 and patched.json()["full_name"] == "Zyx Renamed"
    for sort in GOLDEN_ORDER:
        forward, backward = await walk(client, h, "/api/v1/contacts", {"sort": sort}, limit=9, backwards_from_end=True)
        expected = await golden_ids(db, populated.id, sort, None)
        assert forward == expected == backward
        assert created["id"] in forward and victim not in forward
    by_tag, _ = await walk(client, h, "/api/v1/contacts", {"sort": "score", "tag": "work"})
    assert by_tag == await golden_ids(db, populated.id, "score", ("tag", "work"))
    assert (await client.get(f"/api/v1/contacts/{victim}", headers=h)).status_code == 404


@pytest.mark.parametrize("sort", ["name", "score", "created"])
async def test_walk_under_inserts_never_repeats_or_skips(client, db, populated, sort):
    before = set(await golden_ids(db, populated.id, sort, None))
    seen: list[int] = []
    cursor, n = None, 0
    while True:
        params = {"sort": sort, "limit": 8, **({"cursor": cursor} if cursor else {})}
        body = (await client.get("/api/v1/contacts", params=params, headers=populated.headers)).json()
        seen += [item["id"] for item in body["items"]]
        # Between pages, contacts land all over the order (names from A to z).
        for name in ("AAA first", "Mmm middle", "zzz last"):
            n += 1
            await client.post("/api/v1/contacts", json={"full_name": f"{name} {n}"}, headers=populated.headers)
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)), "a row appeared twice"
    assert before <= set(seen), "a row that existed before the walk was skipped"


async def test_envelope_headers_and_conditional_get(client, populated):
    h = populated.headers
    response = await client.get("/api/v1/contacts", params={"limit": 5}, headers=h)
    body = response.json()
    assert set(body) == {"items", "next_cursor", "prev_cursor", "as_of"}
    assert body["prev_cursor"] is None and body["next_cursor"]
    assert body["as_of"] and response.headers["x-data-as-of"]
    assert 'rel="next"' in response.headers["link"] and f"cursor={body['next_cursor']}" in response.headers["link"]
    assert "count" not in body and "total" not in body
    cached = await client.get(
        "/api/v1/contacts", params={"limit": 5}, headers={**h, "If-None-Match": response.headers["etag"]}
    )
    assert cached.status_code == 304 and cached.content == b""
    second = await client.get("/api/v1/contacts", params={"limit": 5, "cursor": body["next_cursor"]}, headers=h)
    assert 'rel="prev"' in second.headers["link"]
    await client.patch(f"/api/v1/contacts/{body['items'][0]['id']}", json={"title": "CEO"}, headers=h)
    changed = await client.get(
        "/api/v1/contacts", params={"limit": 5}, headers={**h, "If-None-Match": response.headers["etag"]}
    )
    assert changed.status_code == 200


@pytest.mark.parametrize(
    "path, params",
    [
        ("/api/v1/contacts", {"sort": "score"}),
        ("/api/v1/contacts", {"sort": "name", "tag": "work"}),
        ("/api/v1/contacts", {"sort": "last_interaction"}),
        ("/api/v1/contacts", {"sort": "created", "q": "an"}),
        ("/api/v1/contacts/birthdays", {"within_days": 366}),
        ("/api/v1/contacts/overdue", {}),
    ],
)
async def test_each_listing_page_is_one_statement_after_auth(client, populated, statements, path, params):
    await read_plan_once(client, populated.headers)
    statements.reset()
    first = await client.get(path, params={**params, "limit": 3}, headers=populated.headers)
    assert first.status_code == 200
    assert statements.count == 1, statements.statements
    statements.reset()
    cursor = first.json()["next_cursor"]
    assert cursor
    second = await client.get(path, params={**params, "limit": 3, "cursor": cursor}, headers=populated.headers)
    assert second.status_code == 200
    assert statements.count == 1, statements.statements  # the page (the token is known)


async def test_get_one_contact_is_one_statement(client, populated, statements):
    some_id = (await client.get("/api/v1/contacts?limit=1", headers=populated.headers)).json()["items"][0]["id"]
    statements.reset()
    assert (await client.get(f"/api/v1/contacts/{some_id}", headers=populated.headers)).status_code == 200
    assert statements.count == 1


async def test_listing_pages_seek_on_an_index(db, populated):
    """The page statement reads index ranges of the view, never a sequential scan of it."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from kith.contacts.listings import CONTACTS, OVERDUE
    from kith.db.urls import sqlalchemy_url
    from kith.pagination.listing import ListingRequest, Position

    engine = create_async_engine(sqlalchemy_url(db))
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("SET enable_seqscan = off")  # tiny tables: make the planner show its hand
            for listing, sort_name in [*((CONTACTS, name) for name in CONTACTS.sorts), (OVERDUE, None)]:
                sort = listing.sort_named(sort_name)[1]
                start = Position("prev", tuple(SAMPLE_KEY[t] for t in sort.key_types))
                query = listing.prepare(ListingRequest(populated.id, 50, sort=sort_name, start=start))
                plan = "\n".join(
                    r[0] for r in (await conn.execute(text("EXPLAIN " + query.statement.text), query.params)).all()
                )
                assert "Seq Scan on contact_cards" not in plan, plan
                assert "Sort" not in plan.split("->")[-1]
                assert "Index" in plan
    finally:
        await engine.dispose()


async def test_fresh_reads_find_changed_contacts_by_index_on_a_tenant_holding_the_table(db, make_tenant):
    """One user's big address book (the tenant is the whole table, as in a single-user install): the
    page's look-up of contacts changed since as_of still reads the marks' index (with the API reader's
    settings). Its open range (`changed_at >= as_of`, as_of read in the statement) was estimated
    at a third of the tenant's rows and planned as a scan of every contact: 380 ms a page at 1,000,000."""
    from kith.contacts.listings import CONTACTS
    from kith.db.reads import READER_SERVER_SETTINGS, driver_sql
    from kith.db.urls import asyncpg_dsn
    from kith.pagination.listing import ListingRequest
    from kith.readmodels.coalesced_refresh import refresh_all
    from kith.readmodels.models import CONTACT_CARDS

    tenant = await make_tenant("alone")
    conn = await asyncpg.connect(asyncpg_dsn(db), server_settings=READER_SERVER_SETTINGS)
    try:
        await conn.execute(
            "INSERT INTO contacts (tenant_id, full_name, score) SELECT $1, 'Person ' || n, n % 97"
            " FROM generate_series(1, 40000) n",
            tenant.id,
        )
        await conn.execute("ANALYZE contacts")
        await refresh_all(db, (CONTACT_CARDS,))
        query = CONTACTS.prepare(ListingRequest(tenant.id, 50, sort="score"))
        sql, names = driver_sql(query.statement)
        plan = "\n".join(row[0] for row in await conn.fetch("EXPLAIN " + sql, *(query.params[n] for n in names)))
    finally:
        await conn.close()
    assert "Seq Scan on contacts" not in plan, plan
    assert "ix_contacts_tenant_changed" in plan, plan
    # What decides it at any size: the marks' scan is estimated at a sliver of the tenant, not a third.
    marks = plan.split("CTE changed", 1)[1].split("ix_contacts_tenant_changed", 1)[0]
    estimated = int(re.findall(r"rows=(\d+)", marks)[-1])
    assert estimated <= 40000 // 100, plan
