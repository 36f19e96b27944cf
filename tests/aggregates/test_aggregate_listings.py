"""GET /companies, /companies/{name}, /companies/{name}/contacts, /tags, /mentions: golden against plain
GROUP BY / ORDER BY queries over the base tables, walks both ways, statement counts, ETag/304,
hostile input, cross-tenant probes on every name and cursor."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

import asyncpg
import pytest
from litestar.status_codes import HTTP_200_OK, HTTP_304_NOT_MODIFIED, HTTP_400_BAD_REQUEST, HTTP_404_NOT_FOUND
from tests.conftest import read_plan_once

from kith.db.urls import asyncpg_dsn
from kith.readmodels.coalesced_refresh import refresh_all

# What a company row must hold, from the base tables (recent activity: messages with its live contacts
# and mentions naming it, in the last 30 days).
COMPANIES_SQL = """
SELECT c.company AS name, count(*)::int AS contacts, avg(c.score) AS avg_score,
       (SELECT max(m.sent_at) FROM messages m JOIN contacts k ON k.id = m.contact_id
        WHERE k.tenant_id = $1 AND k.deleted_at IS NULL AND k.company = c.company) AS last_interaction_at,
       (SELECT count(*) FROM messages m JOIN contacts k ON k.id = m.contact_id
        WHERE k.tenant_id = $1 AND k.deleted_at IS NULL AND k.company = c.company
          AND m.sent_at >= now() - interval '30 days')::int AS messages_30d,
       (SELECT count(*) FROM mentions n WHERE n.tenant_id = $1 AND c.company = ANY (n.companies)
          AND coalesce(n.published_at, n.created_at) >= now() - interval '30 days')::int AS mentions_30d
FROM contacts c WHERE c.tenant_id = $1 AND c.deleted_at IS NULL AND c.company IS NOT NULL
GROUP BY c.company
"""
COMPANY_ORDER = {
    "contacts": 'contacts DESC, name COLLATE "C" DESC',
    "score": 'avg_score DESC, name COLLATE "C" DESC',
    "recent_activity": 'messages_30d + mentions_30d DESC, name COLLATE "C" DESC',
    "name": 'lower(name) COLLATE "C", name COLLATE "C"',
}
TAGS_SQL = """
SELECT g.tag AS name, count(*)::int AS contacts, avg(g.score) AS avg_score,
       coalesce(sum((SELECT count(*) FROM messages m WHERE m.contact_id = g.id
                     AND m.sent_at >= now() - interval '30 days')), 0)::int AS messages_30d
FROM (SELECT DISTINCT c.id, c.score, t.tag FROM contacts c, unnest(c.tags) t(tag)
      WHERE c.tenant_id = $1 AND c.deleted_at IS NULL) g
GROUP BY g.tag
"""
TAG_ORDER = {
    "contacts": 'contacts DESC, name COLLATE "C" DESC',
    "score": 'avg_score DESC, name COLLATE "C" DESC',
    "name": 'lower(name) COLLATE "C", name COLLATE "C"',
}


async def fetch(db: str, sql: str, *args) -> list[dict]:
    """The rows, each average as the API shows it: rounded to two decimals (the order is the exact one's)."""
    conn = await asyncpg.connect(asyncpg_dsn(db))
    try:
        rows = [dict(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()
    for row in rows:
        if "avg_score" in row:
            row["avg_score"] = round(row["avg_score"], 2)
    return rows


def as_json(rows: list[dict]) -> list[dict]:
    return [
        {k: (v.isoformat().replace("+00:00", "Z") if isinstance(v, dt.datetime) else v) for k, v in r.items()}
        for r in rows
    ]


async def walk(client, path: str, headers: dict, params: dict | None = None, limit: int = 7) -> list[dict]:
    """Every item, following next cursors; then back from the last page following prev cursors."""
    pages, cursor = [], None
    while True:
        response = await client.get(
            path,
            headers=headers,
            params={**(params or {}), "limit": limit, "cursor": cursor}
            if cursor
            else {**(params or {}), "limit": limit},
        )
        assert response.status_code == HTTP_200_OK, response.text
        body = response.json()
        pages.append(body)
        cursor = body["next_cursor"]
        if cursor is None:
            break
    forward = [item for page in pages for item in page["items"]]
    backward, cursor = list(pages[-1]["items"]), pages[-1]["prev_cursor"]
    while cursor:
        body = (
            await client.get(path, headers=headers, params={**(params or {}), "limit": limit, "cursor": cursor})
        ).json()
        backward = body["items"] + backward
        cursor = body["prev_cursor"]
    assert backward == forward  # the same rows, in the same order, walking back
    return forward


def normalized(items: list[dict]) -> list[dict]:
    # Times compared as instants (the API writes RFC 3339 UTC).
    out = []
    for item in items:
        row = dict(item)
        for k, v in row.items():
            if isinstance(v, str) and k.endswith("_at"):
                row[k] = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
        out.append(row)
    return out


@pytest.mark.parametrize("sort", list(COMPANY_ORDER))
async def test_companies_walk_equals_group_by(client, db, seeded, sort):
    expected = await fetch(db, f"SELECT * FROM ({COMPANIES_SQL}) s ORDER BY {COMPANY_ORDER[sort]}", seeded.tenant.id)
    for row in expected:
        row["recent_activity"] = row["messages_30d"] + row["mentions_30d"]
    got = await walk(client, "/api/v1/companies", seeded.tenant.headers, {"sort": sort}, limit=3)
    assert normalized(got) == expected
    names = [c["name"] for c in got]
    assert {"Acme", "acme", "Zürich Re", "Ñandú", "株式会社テスト", "Tie A", "Tie B"} <= set(names)
    assert "Ghost Co" not in names and None not in names  # deleted contacts, NULL companies


async def test_companies_ties_break_on_name(client, seeded):
    got = await walk(client, "/api/v1/companies", seeded.tenant.headers, {"sort": "contacts"}, limit=50)
    ties = [c["name"] for c in got if c["name"] in ("Tie A", "Tie B")]
    counts = {c["name"]: c["contacts"] for c in got}
    assert counts["Tie A"] == counts["Tie B"] and ties == ["Tie B", "Tie A"]  # one direction: name DESC too


async def test_companies_name_prefix(client, db, seeded):
    got = await walk(client, "/api/v1/companies", seeded.tenant.headers, {"sort": "name", "q": "AC"})
    assert [c["name"] for c in got] == ["Acme", "acme"]  # one name key: then the name, C order
    got = await walk(client, "/api/v1/companies", seeded.tenant.headers, {"q": "zü"})
    assert [c["name"] for c in got] == ["Zürich Re"]


async def test_one_company(client, db, seeded):
    expected = await fetch(db, f"SELECT * FROM ({COMPANIES_SQL}) s WHERE name = 'Zürich Re'", seeded.tenant.id)
    response = await client.get(f"/api/v1/companies/{quote('Zürich Re')}", headers=seeded.tenant.headers)
    assert response.status_code == HTTP_200_OK
    body = response.json()
    assert normalized([{k: v for k, v in body.items() if k != "recent_activity"}]) == expected
    again = await client.get(
        f"/api/v1/companies/{quote('Zürich Re')}",
        headers={**seeded.tenant.headers, "If-None-Match": response.headers["etag"]},
    )
    assert again.status_code == HTTP_304_NOT_MODIFIED


@pytest.mark.parametrize("sort", ["score", "name", "last_interaction", "created"])
async def test_company_contacts_equal_the_contacts_listing_filtered(client, db, seeded, sort):
    headers = seeded.tenant.headers
    scoped = await walk(client, f"/api/v1/companies/{quote('Zürich Re')}/contacts", headers, {"sort": sort}, limit=4)
    filtered = await walk(client, "/api/v1/contacts", headers, {"sort": sort, "company": "Zürich Re"}, limit=50)
    assert scoped == filtered and scoped
    ids = await fetch(
        db,
        "SELECT id FROM contacts WHERE tenant_id = $1 AND company = 'Zürich Re' AND deleted_at IS NULL",
        seeded.tenant.id,
    )
    assert sorted(c["id"] for c in scoped) == sorted(r["id"] for r in ids)


@pytest.mark.parametrize("sort", list(TAG_ORDER))
async def test_tags_walk_equals_group_by(client, db, seeded, sort):
    expected = await fetch(db, f"SELECT * FROM ({TAGS_SQL}) s ORDER BY {TAG_ORDER[sort]}", seeded.tenant.id)
    got = await walk(client, "/api/v1/tags", seeded.tenant.headers, {"sort": sort}, limit=2)
    assert got == expected
    assert {"work", "Work", "école"} <= {t["name"] for t in got} and "ghost" not in {t["name"] for t in got}


MENTIONS_SQL = """
SELECT id, title, link, summary, source, published_at, companies, created_at FROM mentions
WHERE tenant_id = $1 AND ($2::text IS NULL OR $2 = ANY (companies))
  AND ($3::timestamptz IS NULL OR coalesce(published_at, created_at) >= $3)
ORDER BY coalesce(published_at, created_at) DESC, id DESC
"""


@pytest.mark.parametrize("company", [None, "Zürich Re", "Nobody Works Here", "Not Named Anywhere"])
@pytest.mark.parametrize("since_days", [None, 10])
async def test_mentions_walk_equals_order_by(client, db, seeded, company, since_days):
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=since_days) if since_days else None
    expected = await fetch(db, MENTIONS_SQL, seeded.tenant.id, company, since)
    params = {k: v for k, v in {"company": company, "since": since.isoformat() if since else None}.items() if v}
    got = await walk(client, "/api/v1/mentions", seeded.tenant.headers, params, limit=9)
    assert normalized(got) == expected
    if company != "Not Named Anywhere":
        assert got


LISTINGS = [
    "/api/v1/companies",
    "/api/v1/companies?sort=recent_activity&q=a",
    "/api/v1/companies/Acme/contacts",
    "/api/v1/companies/Acme",
    "/api/v1/tags?sort=name",
    "/api/v1/mentions?company=Acme",
]


@pytest.mark.parametrize("path", LISTINGS)
async def test_each_is_one_statement_after_auth_with_etag(client, seeded, statements, path):
    await read_plan_once(client, seeded.tenant.headers)
    statements.reset()
    first = await client.get(path, headers=seeded.tenant.headers)
    assert first.status_code == HTTP_200_OK
    assert statements.count == 1, statements.statements  # the page (the token is known)
    again = await client.get(path, headers={**seeded.tenant.headers, "If-None-Match": first.headers["etag"]})
    assert again.status_code == HTTP_304_NOT_MODIFIED


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/companies?sort=size",
        "/api/v1/companies?limit=0",
        "/api/v1/companies?limit=201",
        "/api/v1/companies?cursor=garbage",
        "/api/v1/tags?sort=recent_activity",
        "/api/v1/mentions?since=yesterday",
        "/api/v1/mentions?cursor=abc.def",
        "/api/v1/companies/Acme/contacts?sort=contacts",
        "/api/v1/companies/Acme/mentions/daily?days=400",
        "/api/v1/companies/Ac%00me",
        "/api/v1/companies/Ac%00me/contacts",
        "/api/v1/companies/Acme/contacts?q=a%00",
        "/api/v1/companies/Ac%00me/mentions/daily",
        "/api/v1/companies?q=%00",
        "/api/v1/mentions?company=a%00b",
        "/api/v1/companies/" + "x" * 501,
    ],
)
async def test_hostile_input_is_a_400_problem(client, seeded, path):
    response = await client.get(path, headers=seeded.tenant.headers)
    assert response.status_code == HTTP_400_BAD_REQUEST, response.text
    assert response.status_code == HTTP_400_BAD_REQUEST
    assert response.headers["content-type"].startswith("application/problem+json")


async def first_next_cursor(client, path: str, headers: dict, params: dict | None = None) -> str:
    body = (await client.get(path, headers=headers, params={**(params or {}), "limit": 1})).json()
    assert body["next_cursor"]
    return body["next_cursor"]


@pytest.mark.parametrize(
    "path", ["/api/v1/companies", "/api/v1/tags", "/api/v1/mentions", "/api/v1/companies/Acme/contacts"]
)
async def test_another_tenants_cursor_is_a_400(client, seeded, path):
    theirs = await first_next_cursor(client, path, seeded.neighbour.headers)
    response = await client.get(path, headers=seeded.tenant.headers, params={"cursor": theirs})
    assert response.status_code == HTTP_400_BAD_REQUEST
    mine = await first_next_cursor(client, path, seeded.tenant.headers)
    assert (await client.get(path, headers=seeded.tenant.headers, params={"cursor": mine})).status_code == 200


async def test_a_cursor_is_bound_to_its_listing(client, seeded):
    headers = seeded.tenant.headers
    by_name = await first_next_cursor(client, "/api/v1/companies", headers, {"sort": "name"})
    assert (
        await client.get("/api/v1/companies", headers=headers, params={"sort": "name", "cursor": by_name})
    ).is_success
    for path, params in (
        ("/api/v1/companies", {"sort": "contacts"}),
        ("/api/v1/tags", {"sort": "name"}),
        ("/api/v1/companies", {"sort": "name", "q": "a"}),
    ):
        response = await client.get(path, headers=headers, params={**params, "cursor": by_name})
        assert response.status_code == HTTP_400_BAD_REQUEST, (path, params)
    acme = await first_next_cursor(client, "/api/v1/companies/Acme/contacts", headers)
    other = await client.get("/api/v1/companies/Globex/contacts", headers=headers, params={"cursor": acme})
    assert other.status_code == HTTP_400_BAD_REQUEST
    acme_mentions = await first_next_cursor(client, "/api/v1/mentions", headers, {"company": "Acme"})
    other = await client.get("/api/v1/mentions", headers=headers, params={"company": "Globex", "cursor": acme_mentions})
    assert other.status_code == HTTP_400_BAD_REQUEST


async def test_another_tenants_company_is_404_everywhere(client, db, make_tenant, seeded):
    other = await make_tenant("other")
    conn = await asyncpg.connect(asyncpg_dsn(db))
    try:
        await conn.execute(
            "INSERT INTO contacts (tenant_id, full_name, company) VALUES ($1, 'x', 'Only Theirs')", other.id
        )
    finally:
        await conn.close()
    await refresh_all(db)
    for name in ("Only Theirs", "Ghost Co", "Nobody At All"):
        for suffix in ("", "/contacts"):
            response = await client.get(f"/api/v1/companies/{quote(name)}{suffix}", headers=seeded.tenant.headers)
            assert response.status_code == HTTP_404_NOT_FOUND, (name, suffix)
            assert response.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/api/v1/companies/Only%20Theirs", headers=other.headers)).status_code == HTTP_200_OK
    mine = (await client.get("/api/v1/companies?limit=200", headers=seeded.tenant.headers)).json()["items"]
    assert "Only Theirs" not in {c["name"] for c in mine}
    theirs = (await client.get("/api/v1/mentions?limit=200", headers=other.headers)).json()["items"]
    assert theirs == []


async def test_since_without_offset_is_utc(client, seeded):
    headers = seeded.tenant.headers
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=10)).replace(microsecond=0)
    naive = await client.get(
        "/api/v1/mentions", headers=headers, params={"since": since.replace(tzinfo=None).isoformat(), "limit": 200}
    )
    aware = await client.get("/api/v1/mentions", headers=headers, params={"since": since.isoformat(), "limit": 200})
    assert naive.status_code == aware.status_code == HTTP_200_OK
    assert naive.json()["items"] == aware.json()["items"] and aware.json()["items"]
