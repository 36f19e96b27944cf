"""Upcoming birthdays (year end, Feb 29, time zones) and overdue follow-ups, in SQL relative to today."""

from __future__ import annotations

import datetime as dt

import pytest
from tests.conftest import connect

from kith.contacts import service
from kith.readmodels.coalesced_refresh import refresh_all

BIRTHDAYS = {
    "Dec 24": "--12-24",
    "Dec 25": "1980-12-25",
    "Dec 31": "--12-31",
    "Jan 1": "--01-01",
    "Jan 8": "1990-01-08",
    "Jan 9": "--01-09",
    "Feb 27": "--02-27",
    "Feb 28": "--02-28",
    "Feb 29": "2000-02-29",
    "Mar 1": "--03-01",
    "Mar 2": "--03-02",
    "Jun 15": "--06-15",
}


@pytest.fixture
def pin_clock(monkeypatch):
    def pin(moment: dt.datetime) -> None:
        monkeypatch.setattr(service, "clock", lambda: moment)

    return pin


@pytest.fixture
async def birthday_tenant(client, db, make_tenant):
    async def make(time_zone: str = "UTC"):
        tenant = await make_tenant(time_zone=time_zone)
        # Half through the view (refreshed), half written through the API since (read live).
        conn = await connect(db)
        try:
            for i, (name, birthday) in enumerate(BIRTHDAYS.items()):
                if i % 2:
                    continue
                year, month, day = (
                    (None if birthday.startswith("--") else int(birthday[:4])),
                    int(birthday[-5:-3]),
                    int(birthday[-2:]),
                )
                await conn.execute(
                    "INSERT INTO contacts (tenant_id, full_name, birthday_month, birthday_day, birthday_year)"
                    " VALUES ($1, $2, $3, $4, $5)",
                    tenant.id,
                    name,
                    month,
                    day,
                    year,
                )
            await conn.execute("INSERT INTO contacts (tenant_id, full_name) VALUES ($1, 'No birthday')", tenant.id)
        finally:
            await conn.close()
        await refresh_all(db)
        for i, (name, birthday) in enumerate(BIRTHDAYS.items()):
            if i % 2:
                response = await client.post(
                    "/api/v1/contacts", json={"full_name": name, "birthday": birthday}, headers=tenant.headers
                )
                assert response.status_code == 201, response.text
        return tenant

    return make


async def upcoming(client, tenant, within_days, limit=3):
    items, cursor = [], None
    while True:
        params = {"within_days": within_days, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/api/v1/contacts/birthdays", params=params, headers=tenant.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        items += [(i["full_name"], i["next_birthday"]) for i in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            return items


async def test_window_wraps_the_year_end(client, birthday_tenant, pin_clock):
    tenant = await birthday_tenant()
    pin_clock(dt.datetime(2027, 12, 25, 12, tzinfo=dt.UTC))
    assert await upcoming(client, tenant, 14) == [
        ("Dec 25", "2027-12-25"),
        ("Dec 31", "2027-12-31"),
        ("Jan 1", "2028-01-01"),
        ("Jan 8", "2028-01-08"),
    ]


async def test_feb_29_shows_on_feb_28_in_a_common_year(client, birthday_tenant, pin_clock):
    tenant = await birthday_tenant()
    pin_clock(dt.datetime(2027, 2, 26, tzinfo=dt.UTC))
    assert await upcoming(client, tenant, 4) == [
        ("Feb 27", "2027-02-27"),
        ("Feb 28", "2027-02-28"),
        ("Feb 29", "2027-02-28"),
        ("Mar 1", "2027-03-01"),
        ("Mar 2", "2027-03-02"),
    ]
    # A window that ends on Feb 28 still holds the Feb 29 birthday, celebrated that day.
    assert await upcoming(client, tenant, 2) == [
        ("Feb 27", "2027-02-27"),
        ("Feb 28", "2027-02-28"),
        ("Feb 29", "2027-02-28"),
    ]


async def test_feb_29_is_its_own_day_in_a_leap_year(client, birthday_tenant, pin_clock):
    tenant = await birthday_tenant()
    pin_clock(dt.datetime(2028, 2, 26, tzinfo=dt.UTC))
    assert await upcoming(client, tenant, 2) == [("Feb 27", "2028-02-27"), ("Feb 28", "2028-02-28")]
    assert await upcoming(client, tenant, 3) == [
        ("Feb 27", "2028-02-27"),
        ("Feb 28", "2028-02-28"),
        ("Feb 29", "2028-02-29"),
    ]


async def test_feb_29_next_year_when_the_window_crosses_into_a_common_year(client, birthday_tenant, pin_clock):
    tenant = await birthday_tenant()
    pin_clock(dt.datetime(2028, 12, 31, tzinfo=dt.UTC))  # 2029 is a common year
    # Dec 31 + 59 days is Feb 28, 2029: the Feb 29 birthday falls on it.
    names = [name for name, _ in await upcoming(client, tenant, 59)]
    assert names == ["Dec 31", "Jan 1", "Jan 8", "Jan 9", "Feb 27", "Feb 28", "Feb 29"]
    assert ("Feb 29", "2029-02-28") in await upcoming(client, tenant, 59)


async def test_whole_year_lists_everyone_once_soonest_first(client, birthday_tenant, pin_clock):
    tenant = await birthday_tenant()
    pin_clock(dt.datetime(2027, 3, 1, tzinfo=dt.UTC))
    listed = await upcoming(client, tenant, 366, limit=4)
    assert [name for name, _ in listed] == [
        "Mar 1",
        "Mar 2",
        "Jun 15",
        "Dec 24",
        "Dec 25",
        "Dec 31",
        "Jan 1",
        "Jan 8",
        "Jan 9",
        "Feb 27",
        "Feb 28",
        "Feb 29",
    ]
    assert [d for _, d in listed] == sorted(d for _, d in listed)


async def test_today_is_the_tenants_local_date(client, birthday_tenant, pin_clock):
    pin_clock(dt.datetime(2027, 3, 1, 3, tzinfo=dt.UTC))  # still Feb 28 in Los Angeles
    los_angeles = await birthday_tenant("America/Los_Angeles")
    utc = await birthday_tenant("UTC")
    assert await upcoming(client, los_angeles, 1) == [
        ("Feb 28", "2027-02-28"),
        ("Feb 29", "2027-02-28"),
        ("Mar 1", "2027-03-01"),
    ]
    assert await upcoming(client, utc, 1) == [("Mar 1", "2027-03-01"), ("Mar 2", "2027-03-02")]


async def test_backwards_walk_of_a_wrapping_window(client, birthday_tenant, pin_clock):
    tenant = await birthday_tenant()
    pin_clock(dt.datetime(2027, 12, 20, tzinfo=dt.UTC))
    forward = await upcoming(client, tenant, 70, limit=2)  # up to Feb 28, 2028
    pages, cursor = [], None
    params = {"within_days": 70, "limit": 2}
    while True:
        body = (
            await client.get(
                "/api/v1/contacts/birthdays",
                params={**params, **({"cursor": cursor} if cursor else {})},
                headers=tenant.headers,
            )
        ).json()
        pages.append(body)
        cursor = body["next_cursor"]
        if not cursor:
            break
    backward = [(i["full_name"], i["next_birthday"]) for i in pages[-1]["items"]]
    cursor = pages[-1]["prev_cursor"]
    while cursor:
        body = (
            await client.get("/api/v1/contacts/birthdays", params={**params, "cursor": cursor}, headers=tenant.headers)
        ).json()
        backward = [(i["full_name"], i["next_birthday"]) for i in body["items"]] + backward
        cursor = body["prev_cursor"]
    assert backward == forward
    assert [n for n, _ in forward] == ["Dec 24", "Dec 25", "Dec 31", "Jan 1", "Jan 8", "Jan 9", "Feb 27", "Feb 28"]


async def test_overdue_most_overdue_first(client, db, make_tenant):
    tenant = await make_tenant()
    now = dt.datetime.now(dt.UTC)
    conn = await connect(db)
    try:
        conversation = await conn.fetchval(
            "INSERT INTO conversations (tenant_id, user_id, external_id) VALUES ($1, $2, 'c') RETURNING id",
            tenant.id,
            tenant.user_id,
        )
        people = [  # name, cadence, days since last message (None: never), days since created
            ("weekly, 10 days ago", 7, 10),
            ("monthly, 10 days ago", 30, 10),
            ("weekly, 30 days ago", 7, 30),
            ("never, with cadence, created 100 days ago", 90, None),
            ("never, with cadence, created 80 days ago", 90, None),
            ("never, no cadence", None, None),
            ("no cadence, 400 days", None, 400),
            ("quarterly, 100 days ago", 90, 100),
        ]
        for i, (name, cadence, days) in enumerate(people):
            contact = await conn.fetchval(
                "INSERT INTO contacts (tenant_id, full_name, cadence_days, created_at) VALUES ($1, $2, $3, $4)"
                " RETURNING id",
                tenant.id,
                name,
                cadence,
                now - dt.timedelta(days=100 if "created 100" in name else 80 if "created 80" in name else 1000),
            )
            if days is not None:
                await conn.execute(
                    "INSERT INTO messages (tenant_id, conversation_id, contact_id, direction, sent_at, external_id)"
                    " VALUES ($1, $2, $3, 'out', $4, $5)",
                    tenant.id,
                    conversation,
                    contact,
                    now - dt.timedelta(days=days),
                    f"m{i}",
                )
    finally:
        await conn.close()
    await refresh_all(db)
    body = (await client.get("/api/v1/contacts/overdue", headers=tenant.headers)).json()
    items = body["items"]
    assert [i["full_name"] for i in items] == [
        "weekly, 30 days ago",  # due 23 days ago
        "never, with cadence, created 100 days ago",  # due 10 days ago (a cadence after its creation)
        "quarterly, 100 days ago",  # due 10 days ago
        "weekly, 10 days ago",  # due 3 days ago
    ]
    assert all(i["overdue"] for i in items)
    # Since when, and by how many whole days.
    assert [i["overdue_days"] for i in items] == [23, 10, 10, 3]
    since = dt.datetime.fromisoformat(items[1]["follow_up_due_at"])
    assert abs(since - (now - dt.timedelta(days=10))) < dt.timedelta(minutes=1)
    # A new contact with a cadence is not overdue before its first cadence has passed (read live).
    created = await client.post(
        "/api/v1/contacts", json={"full_name": "new, weekly", "cadence_days": 7}, headers=tenant.headers
    )
    assert created.json()["overdue"] is False and created.json()["overdue_days"] is None
    assert dt.datetime.fromisoformat(created.json()["follow_up_due_at"]) > now + dt.timedelta(days=6)
    names = [
        i["full_name"] for i in (await client.get("/api/v1/contacts/overdue", headers=tenant.headers)).json()["items"]
    ]
    assert "new, weekly" not in names and len(names) == 4
