"""GET /dashboard and GET /companies/{name}/mentions/daily: golden against plain queries over the base
tables, one statement after auth, ETag/304, the tenant's time zone, cross-tenant probes."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from litestar.status_codes import HTTP_200_OK, HTTP_304_NOT_MODIFIED, HTTP_400_BAD_REQUEST, HTTP_404_NOT_FOUND
from tests.aggregates.conftest import TIME_ZONE
from tests.conftest import read_plan_once

from kith.contacts.service import birthday_segments
from kith.db.urls import asyncpg_dsn
from kith.readmodels.coalesced_refresh import refresh_all

# Plain GROUP BY / count queries over the base tables: what the dashboard must equal.
EXPECTED_NUMBERS = """
WITH last_msg AS (
    SELECT c.id, c.cadence_days, c.created_at, max(m.sent_at) AS last_at
    FROM contacts c LEFT JOIN messages m ON m.contact_id = c.id
    WHERE c.tenant_id = $1 AND c.deleted_at IS NULL
    GROUP BY c.id, c.cadence_days, c.created_at
),
latest AS (
    SELECT DISTINCT ON (conversation_id) conversation_id, direction FROM messages
    WHERE tenant_id = $1 ORDER BY conversation_id, sent_at DESC, id DESC
)
SELECT
    (SELECT count(*) FROM contacts WHERE tenant_id = $1 AND deleted_at IS NULL) AS contacts,
    (SELECT count(*) FROM last_msg WHERE cadence_days IS NOT NULL
        -- a cadence counts from the last message, or from the contact's creation if none yet
        AND coalesce(last_at, created_at) + make_interval(days => cadence_days) < now()) AS overdue_contacts,
    (SELECT count(*) FROM messages WHERE tenant_id = $1 AND sent_at >= now() - interval '7 days') AS messages_7d,
    (SELECT count(*) FROM messages WHERE tenant_id = $1 AND sent_at >= now() - interval '30 days') AS messages_30d,
    (SELECT count(*) FROM latest WHERE direction = 'in') AS conversations_awaiting_reply
"""

EXPECTED_TOP = """
SELECT c.company AS name, count(*) AS contacts,
       (SELECT count(*) FROM messages m JOIN contacts k ON k.id = m.contact_id
        WHERE k.tenant_id = $1 AND k.deleted_at IS NULL AND k.company = c.company
          AND m.sent_at >= now() - interval '30 days')
       + (SELECT count(*) FROM mentions n WHERE n.tenant_id = $1 AND c.company = ANY (n.companies)
          AND coalesce(n.published_at, n.created_at) >= now() - interval '30 days') AS recent_activity
FROM contacts c WHERE c.tenant_id = $1 AND c.deleted_at IS NULL AND c.company IS NOT NULL
GROUP BY c.company
"""


async def expected_dashboard(db: str, tenant_id: int) -> tuple[dict, list[tuple[str, int]]]:
    conn = await asyncpg.connect(asyncpg_dsn(db))
    try:
        numbers = dict(await conn.fetchrow(EXPECTED_NUMBERS, tenant_id))
        today = dt.datetime.now(ZoneInfo(TIME_ZONE)).date()
        birthdays = await conn.fetch(
            "SELECT birthday_month * 100 + birthday_day AS mmdd FROM contacts "
            "WHERE tenant_id = $1 AND deleted_at IS NULL AND birthday_month IS NOT NULL",
            tenant_id,
        )
        ranges = birthday_segments(today, 7)
        numbers["upcoming_birthdays"] = sum(
            1 for b in birthdays if any(first <= b["mmdd"] <= last for _, first, last in ranges)
        )
        top = [(r["name"], r["recent_activity"]) for r in await conn.fetch(EXPECTED_TOP, tenant_id)]
        # Ties on recent activity: by name, C collation, descending (the index's order).
        top.sort(key=lambda t: (t[1], t[0].encode()), reverse=True)
        return numbers, top[:5]
    finally:
        await conn.close()


async def test_dashboard_equals_plain_queries_over_base_tables(client, db, seeded):
    tenant = seeded.tenant
    response = await client.get("/api/v1/dashboard", headers=tenant.headers)
    assert response.status_code == HTTP_200_OK
    body = response.json()
    numbers, top = await expected_dashboard(db, tenant.id)
    assert {k: body[k] for k in numbers} == numbers
    assert numbers["contacts"] > 0 and numbers["overdue_contacts"] > 0 and numbers["upcoming_birthdays"] > 0
    assert 0 < numbers["conversations_awaiting_reply"] < 6
    assert [(c["name"], c["recent_activity"]) for c in body["top_companies"]] == top
    assert body["last_sync_run"]["status"] == "failed"  # the newest run
    assert body["as_of"] is not None


async def test_upcoming_birthdays_equal_the_birthday_listing(client, seeded):
    tenant = seeded.tenant
    board = (await client.get("/api/v1/dashboard", headers=tenant.headers)).json()
    listing = (
        await client.get("/api/v1/contacts/birthdays", params={"within_days": 7, "limit": 200}, headers=tenant.headers)
    ).json()
    assert board["upcoming_birthdays"] == len(listing["items"])


async def test_dashboard_of_a_tenant_with_nothing(client, make_tenant, db):
    empty = await make_tenant("empty")
    await refresh_all(db)
    body = (await client.get("/api/v1/dashboard", headers=empty.headers)).json()
    assert body["contacts"] == body["overdue_contacts"] == body["messages_30d"] == 0
    assert body["top_companies"] == [] and body["last_sync_run"] is None


async def test_dashboard_is_one_statement_after_auth(client, seeded, statements):
    await read_plan_once(client, seeded.tenant.headers)
    statements.reset()
    response = await client.get("/api/v1/dashboard", headers=seeded.tenant.headers)
    assert response.status_code == HTTP_200_OK
    assert statements.count == 1, statements.statements  # the dashboard (the token is known)


async def test_dashboard_etag_and_304(client, db, seeded):
    headers = seeded.tenant.headers
    first = await client.get("/api/v1/dashboard", headers=headers)
    etag = first.headers["etag"]
    again = await client.get("/api/v1/dashboard", headers={**headers, "If-None-Match": etag})
    assert again.status_code == HTTP_304_NOT_MODIFIED and again.content == b""
    conn = await asyncpg.connect(asyncpg_dsn(db))
    try:
        await conn.execute("INSERT INTO contacts (tenant_id, full_name) VALUES ($1, 'New person')", seeded.tenant.id)
    finally:
        await conn.close()
    await refresh_all(db)
    changed = await client.get("/api/v1/dashboard", headers={**headers, "If-None-Match": etag})
    assert changed.status_code == HTTP_200_OK and changed.headers["etag"] != etag


async def test_dashboards_are_per_tenant(client, db, seeded):
    mine = (await client.get("/api/v1/dashboard", headers=seeded.tenant.headers)).json()
    theirs = (await client.get("/api/v1/dashboard", headers=seeded.neighbour.headers)).json()
    assert mine["contacts"] == (await expected_dashboard(db, seeded.tenant.id))[0]["contacts"]
    assert theirs["contacts"] == (await expected_dashboard(db, seeded.neighbour.id))[0]["contacts"]


# ---------------------------------------------------------------- daily series

EXPECTED_DAILY = """
SELECT (coalesce(published_at, created_at) AT TIME ZONE $3)::date AS day, count(*) AS mentions
FROM mentions WHERE tenant_id = $1 AND $2 = ANY (companies)
GROUP BY 1
"""


@pytest.mark.parametrize("company", ["Zürich Re", "株式会社テスト", "Acme", "acme", "Nobody Works Here"])
async def test_daily_series_is_dense_in_the_tenant_time_zone(client, db, seeded, company):
    days = 60
    response = await client.get(
        f"/api/v1/companies/{quote(company)}/mentions/daily", params={"days": days}, headers=seeded.tenant.headers
    )
    assert response.status_code == HTTP_200_OK, response.text
    body = response.json()
    conn = await asyncpg.connect(asyncpg_dsn(db))
    try:
        counted = {
            r["day"]: r["mentions"] for r in await conn.fetch(EXPECTED_DAILY, seeded.tenant.id, company, TIME_ZONE)
        }
    finally:
        await conn.close()
    today = dt.datetime.now(ZoneInfo(TIME_ZONE)).date()
    expected = [
        {
            "day": (today - dt.timedelta(days=days - 1 - i)).isoformat(),
            "mentions": counted.get(today - dt.timedelta(days=days - 1 - i), 0),
        }
        for i in range(days)
    ]
    assert body["company"] == company and body["days"] == days
    assert body["series"] == expected
    assert sum(d["mentions"] for d in body["series"]) > 0
    assert any(d["mentions"] == 0 for d in body["series"])  # dense: the quiet days are there as 0


async def test_daily_series_days_follow_the_tenant_time_zone_not_utc(client, db, make_tenant):
    tokyo = await make_tenant("tokyo", time_zone="Asia/Tokyo")
    conn = await asyncpg.connect(asyncpg_dsn(db))
    try:
        await conn.execute(
            "INSERT INTO contacts (tenant_id, full_name, company) VALUES ($1, 'A', 'Kōbe Steel')", tokyo.id
        )
        # 20:00 UTC is 05:00 the next day in Tokyo.
        local_today = dt.datetime.now(ZoneInfo("Asia/Tokyo")).date()
        published = dt.datetime.combine(local_today - dt.timedelta(days=3), dt.time(20), dt.UTC)
        await conn.execute(
            "INSERT INTO mentions (tenant_id, source, dedupe_key, title, published_at, companies) "
            "VALUES ($1, 'test', 'k', 't', $2, ARRAY['Kōbe Steel'])",
            tokyo.id,
            published,
        )
    finally:
        await conn.close()
    await refresh_all(db)
    body = (await client.get("/api/v1/companies/K%C5%8Dbe%20Steel/mentions/daily?days=7", headers=tokyo.headers)).json()
    counts = {d["day"]: d["mentions"] for d in body["series"]}
    assert counts[(local_today - dt.timedelta(days=2)).isoformat()] == 1
    assert sum(counts.values()) == 1 and len(counts) == 7


async def test_daily_series_is_one_statement_with_etag(client, seeded, statements):
    path = "/api/v1/companies/Acme/mentions/daily"
    await read_plan_once(client, seeded.tenant.headers)
    statements.reset()
    first = await client.get(path, headers=seeded.tenant.headers)
    assert statements.count == 1, statements.statements
    again = await client.get(path, headers={**seeded.tenant.headers, "If-None-Match": first.headers["etag"]})
    assert again.status_code == HTTP_304_NOT_MODIFIED


@pytest.mark.parametrize("days", ["0", "367", "-1", "abc"])
async def test_daily_series_rejects_bad_days(client, seeded, days):
    response = await client.get(f"/api/v1/companies/Acme/mentions/daily?days={days}", headers=seeded.tenant.headers)
    assert response.status_code == HTTP_400_BAD_REQUEST
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_daily_series_of_an_unknown_or_foreign_company_is_404(client, db, make_tenant, seeded):
    other = await make_tenant("other")
    conn = await asyncpg.connect(asyncpg_dsn(db))
    try:
        await conn.execute(
            "INSERT INTO contacts (tenant_id, full_name, company) VALUES ($1, 'x', 'Only Theirs')", other.id
        )
    finally:
        await conn.close()
    await refresh_all(db)
    for name in ("Only Theirs", "Ghost Co", "No Such Company"):
        response = await client.get(f"/api/v1/companies/{quote(name)}/mentions/daily", headers=seeded.tenant.headers)
        assert response.status_code == HTTP_404_NOT_FOUND, name
    ok = await client.get("/api/v1/companies/Only%20Theirs/mentions/daily", headers=other.headers)
    assert ok.status_code == HTTP_200_OK


async def test_upcoming_birthdays_wrap_the_year_end(client, db, make_tenant, monkeypatch):
    import kith.contacts.service as contacts_service

    tenant = await make_tenant("wrap")
    conn = await asyncpg.connect(asyncpg_dsn(db))
    try:
        for month, day in ((12, 28), (12, 29), (12, 31), (1, 1), (1, 5), (1, 6), (2, 29)):
            await conn.execute(
                "INSERT INTO contacts (tenant_id, full_name, birthday_month, birthday_day) VALUES ($1, 'b', $2, $3)",
                tenant.id,
                month,
                day,
            )
    finally:
        await conn.close()
    await refresh_all(db)
    # Dec 29 + 7 days = Jan 5: Dec 29, Dec 31, Jan 1, Jan 5.
    monkeypatch.setattr(contacts_service, "clock", lambda: dt.datetime(2026, 12, 29, 12, tzinfo=dt.UTC))
    board = (await client.get("/api/v1/dashboard", headers=tenant.headers)).json()
    listing = (await client.get("/api/v1/contacts/birthdays?within_days=7", headers=tenant.headers)).json()
    assert board["upcoming_birthdays"] == len(listing["items"]) == 4
