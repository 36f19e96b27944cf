"""The exact page cache (kith.pagination.cache): a kept page runs no statement and answers If-None-Match
without running; a write is in the writer's next read at once and in another process's once the
notification arrives; a tenant's writes keep other tenants' pages; a refresh of a tenant's slice drops its
pages and no other tenant's; the clock (a tenant-local day, an overdue turn) drops what it changes."""

from __future__ import annotations

import datetime as dt
import time

from litestar.testing import AsyncTestClient
from tests.conftest import read_plan_once
from tests.limits.conftest import eventually

from kith.app import create_app
from kith.caching import KeptUntilNotified
from kith.pagination.cache import page_cache
from kith.readmodels.coalesced_refresh import request_refresh
from kith.readmodels.models import CONTACT_CARDS, HASH_SLICES

CONTACTS = "/api/v1/contacts"


async def names(client, tenant) -> list[str]:
    response = await client.get(CONTACTS, params={"sort": "name"}, headers=tenant.headers)
    assert response.status_code == 200
    return [item["full_name"] for item in response.json()["items"]]


async def add(client, tenant, name: str) -> None:
    """A contact created through the API; returns once this app heard the write's notification (which
    would otherwise drop, a little later, the pages a test reads next: harmless, but not what it counts)."""
    listener = client.app.state["kith_notify_listener"]
    received = listener.received
    response = await client.post(CONTACTS, json={"full_name": name}, headers=tenant.headers)
    assert response.status_code == 201, response.text
    await eventually(lambda: listener.received > received)


async def listening(app) -> None:
    listener = app.state["kith_notify_listener"]
    await eventually(lambda: listener.connected)


async def test_a_kept_page_runs_no_statement_and_answers_a_304_without_running(app, client, make_tenant, statements):
    tenant = await make_tenant()
    await listening(app)
    await add(client, tenant, "Ada")
    await read_plan_once(client, tenant.headers)
    statements.reset()
    first = await client.get(CONTACTS, headers=tenant.headers)
    assert statements.count == 1, statements.statements  # the page
    statements.reset()
    again = await client.get(CONTACTS, headers=tenant.headers)
    assert statements.count == 0, statements.statements
    assert again.content == first.content
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["x-data-as-of"] == first.headers["x-data-as-of"]
    revalidated = await client.get(CONTACTS, headers={**tenant.headers, "If-None-Match": first.headers["etag"]})
    assert revalidated.status_code == 304 and revalidated.headers["etag"] == first.headers["etag"]
    assert statements.count == 0
    metrics = (await client.get("/metrics")).text
    assert 'kith_cache_requests_total{cache="pages",result="hit"}' in metrics


async def test_the_writer_reads_its_write_at_once_and_another_process_after_the_notification(
    db, make_tenant, page_cache_on
):
    tenant = await make_tenant()
    a_app, b_app = create_app(db), create_app(db)
    async with AsyncTestClient(app=a_app) as a, AsyncTestClient(app=b_app) as b:
        await listening(a_app)
        await listening(b_app)
        listeners = [app.state["kith_notify_listener"] for app in (a_app, b_app)]
        received = [listener.received for listener in listeners]
        await add(a, tenant, "Ada")
        # Both processes heard of that write (else its message could drop the pages read next).
        await eventually(lambda: all(lr.received > r for lr, r in zip(listeners, received, strict=True)))
        for client in (a, b):
            assert await names(client, tenant) == ["Ada"]
        assert len(page_cache(a_app)) == len(page_cache(b_app)) == 1

        await add(a, tenant, "Bea")
        assert await names(a, tenant) == ["Ada", "Bea"]  # the writer: its very next read
        started = time.monotonic()

        async def b_sees_it() -> bool:
            return await names(b, tenant) == ["Ada", "Bea"]

        await eventually(b_sees_it)
        assert time.monotonic() - started < 1  # the channel's delay (milliseconds; bounded loosely here)


async def test_a_write_drops_its_tenants_pages_only(app, client, conn, make_tenant, statements):
    tenant, other = await make_tenant(), await make_tenant()
    await listening(app)
    for handle in (tenant, other):
        await add(client, handle, "Ada")
        assert await names(client, handle) == ["Ada"]
    # A write that is not the API's (an import, a job, psql): announced by the trigger at commit.
    await conn.execute(
        "UPDATE contacts SET full_name = 'Ada Lovelace', changed_at = now() WHERE tenant_id = $1", tenant.id
    )

    async def renamed() -> bool:
        return await names(client, tenant) == ["Ada Lovelace"]

    await eventually(renamed)
    statements.reset()
    assert await names(client, other) == ["Ada"]
    assert statements.count == 0  # still kept


async def other_slice_tenant(make_tenant, tenant):
    """A tenant whose rows are in another shared slice than `tenant`'s."""
    while (other := await make_tenant()).id % HASH_SLICES == tenant.id % HASH_SLICES:
        pass
    return other


async def test_a_refresh_of_the_tenants_slice_drops_its_pages_and_no_other_tenants(
    app, client, conn, engine, make_tenant, statements
):
    tenant = await make_tenant()
    other = await other_slice_tenant(make_tenant, tenant)
    await listening(app)
    for handle in (tenant, other):
        await add(client, handle, "Ada")
        await read_plan_once(client, handle.headers)
    # An import's row (no change mark): listed once the tenant's slice is refreshed, not before.
    listener = app.state["kith_notify_listener"]
    received = listener.received
    await conn.execute("INSERT INTO contacts (tenant_id, full_name) VALUES ($1, 'Bea')", tenant.id)
    await eventually(lambda: listener.received > received)
    first = await client.get(CONTACTS, params={"sort": "name"}, headers=tenant.headers)
    assert [item["full_name"] for item in first.json()["items"]] == ["Ada"]
    assert await names(client, other) == ["Ada"]
    statements.reset()
    kept = await client.get(
        CONTACTS, params={"sort": "name"}, headers={**tenant.headers, "If-None-Match": first.headers["etag"]}
    )
    assert kept.status_code == 304 and statements.count == 0

    received = listener.received
    await request_refresh(engine, CONTACT_CARDS.slice_of(tenant.id))  # announces the slice's new generation
    await eventually(lambda: listener.received > received)
    statements.reset()
    again = await client.get(
        CONTACTS, params={"sort": "name"}, headers={**tenant.headers, "If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 200 and again.headers["etag"] != first.headers["etag"]
    assert [item["full_name"] for item in again.json()["items"]] == ["Ada", "Bea"]
    assert statements.count == 1  # the page, read again
    statements.reset()
    assert await names(client, other) == ["Ada"]
    assert statements.count == 0  # another slice's tenant: still kept


async def test_aggregates_birthdays_and_overdue_are_kept(app, client, make_tenant, statements):
    tenant = await make_tenant()
    await listening(app)
    await add(client, tenant, "Ada")
    await read_plan_once(client, tenant.headers)
    paths = [
        "/api/v1/dashboard",
        "/api/v1/contacts/birthdays",
        "/api/v1/companies",
        "/api/v1/tags",
        "/api/v1/mentions",
        "/api/v1/conversations",
    ]
    listener = app.state["kith_notify_listener"]
    for path in paths:
        for _attempt in range(3):  # again if a message arrived meanwhile, or the channel was lost (nothing kept)
            await listening(app)
            received = listener.received
            statements.reset()
            first = await client.get(path, headers=tenant.headers)
            assert first.status_code == 200, (path, first.text)
            assert statements.count == 1, (path, statements.statements)
            statements.reset()
            again = await client.get(path, headers={**tenant.headers, "If-None-Match": first.headers["etag"]})
            if listener.received == received and listener.connected:
                break
        assert again.status_code == 304 and statements.count == 0, path


async def test_a_sync_runs_change_drops_the_dashboard(app, client, conn, make_tenant, statements):
    """The dashboard shows the last sync run: a run's row written anywhere (a worker) is announced too."""
    tenant = await make_tenant()
    await listening(app)
    await read_plan_once(client, tenant.headers)
    first = await client.get("/api/v1/dashboard", headers=tenant.headers)
    assert first.json()["last_sync_run"] is None
    listener = app.state["kith_notify_listener"]
    received = listener.received
    await conn.execute("INSERT INTO sync_runs (tenant_id, source, status) VALUES ($1, 'vcard', 'running')", tenant.id)
    await eventually(lambda: listener.received > received)
    statements.reset()
    again = await client.get("/api/v1/dashboard", headers=tenant.headers)
    assert again.json()["last_sync_run"]["status"] == "running" and statements.count == 1


async def test_a_birthday_page_does_not_outlive_the_tenants_day(app, client, make_tenant, statements, monkeypatch):
    from kith.contacts import service

    tenant = await make_tenant(time_zone="Pacific/Auckland")
    await listening(app)
    await read_plan_once(client, tenant.headers)
    now = dt.datetime(2026, 3, 1, 10, 59, tzinfo=dt.UTC)  # 23:59 on March 1st in Auckland
    monkeypatch.setattr(service, "clock", lambda: now)
    response = await client.post(CONTACTS, json={"full_name": "Ada", "birthday": "--03-01"}, headers=tenant.headers)
    assert response.status_code == 201
    window = {"within_days": 14}
    listener = app.state["kith_notify_listener"]
    await eventually(lambda: listener.received > 0)
    first = await client.get("/api/v1/contacts/birthdays", params=window, headers=tenant.headers)
    assert [item["full_name"] for item in first.json()["items"]] == ["Ada"]
    statements.reset()
    assert (
        await client.get("/api/v1/contacts/birthdays", params=window, headers=tenant.headers)
    ).content == first.content
    assert statements.count == 0
    now = dt.datetime(2026, 3, 1, 11, 1, tzinfo=dt.UTC)  # March 2nd there: Ada's birthday has passed
    again = await client.get(
        "/api/v1/contacts/birthdays", params=window, headers={**tenant.headers, "If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 200 and again.json()["items"] == [] and statements.count == 1


async def test_the_overdue_listings_last_page_is_not_kept(app, client, conn, make_tenant, statements):
    tenant = await make_tenant()
    await listening(app)
    await read_plan_once(client, tenant.headers)
    for _ in range(2):
        statements.reset()
        assert (await client.get("/api/v1/contacts/overdue", headers=tenant.headers)).status_code == 200
        assert statements.count == 1  # a contact may fall due at any moment and join this page


def test_the_cache_is_bounded_in_bytes_least_recently_used_first():
    cache: KeptUntilNotified[str, bytes] = KeptUntilNotified("test", lambda: True, max_size=1000)
    for key in "abc":
        cache.keep(key, b"x" * 400, cache.stamp(key), size=400)
    assert cache.get("a") is None and cache.size == 800
    assert cache.get("b") is not None  # now the most recently used
    cache.keep("d", b"x" * 400, cache.stamp("d"), size=400)
    assert cache.get("c") is None and cache.get("b") is not None and cache.size == 800
    cache.keep("huge", b"x" * 2000, cache.stamp("huge"), size=2000)
    assert cache.get("huge") is None  # larger than the whole bound: never kept


def test_a_read_that_overlapped_a_notification_is_not_kept():
    cache: KeptUntilNotified[tuple[int, str], str] = KeptUntilNotified(
        "test", lambda: True, max_size=10, partition_of=lambda key: key[0]
    )
    stamp = cache.stamp((1, "/contacts"))
    other = cache.stamp((2, "/contacts"))
    cache.forget_partition(1)  # tenant 1 was written while its page was read
    cache.keep((1, "/contacts"), "old", stamp)
    cache.keep((2, "/contacts"), "fine", other)
    assert cache.get((1, "/contacts")) is None and cache.get((2, "/contacts")) == "fine"
