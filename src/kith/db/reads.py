"""Single-statement reads on their own autocommit pool.

A listing page is one SELECT; wrapping it in BEGIN … COMMIT, or resetting a
pooled connection's isolation level afterwards, would cost more round trips
than the page. The reader engine runs each statement on its own (still one
consistent snapshot: it is one statement). After a write in the same request,
the request's session is used instead, so it reads what it wrote.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, runtime_checkable

import asyncpg
import msgspec
from sqlalchemy import Engine, Executable, Row, TextClause
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.util import await_only, greenlet_spawn

from kith.db.urls import sqlalchemy_url

READER_STATE_KEY = "db_reader"

# Listing statements are large (a view, a live view, a UNION under one keyset)
# and planning them costs more than running them; every branch seeks on its
# index whatever the parameters, so a prepared statement's generic plan is
# always the right one. Measured on 1M contacts: 0.46 ms vs 1.6 ms a page.
# A generic plan costs `LIMIT $n` as a tenth of the rows, so a branch with
# per-row subqueries can be costed past jit_above_cost and JIT-compiled on every
# execution: measured 36 ms vs 0.5 ms for a conversations page. A listing reads
# a page of rows; JIT never pays for itself there.
READER_SERVER_SETTINGS = {"plan_cache_mode": "force_generic_plan", "jit": "off"}


@runtime_checkable
class Reader(Protocol):
    """What a read runs on (`db_reader`): the autocommit engine, or a read routed to a replica (kith.db.replicas)."""

    def connect(self) -> AbstractAsyncContextManager[Any]: ...


Source = Reader | AsyncSession


def create_reader(database_url: str, pool_size: int, pool_timeout: float) -> AsyncEngine:
    """The reader, sized by kith.db.budget: never more than `pool_size` connections."""
    return create_async_engine(
        sqlalchemy_url(database_url),
        isolation_level="AUTOCOMMIT",
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=pool_timeout,
        connect_args={"server_settings": READER_SERVER_SETTINGS},
        # jsonb columns (a contact card's addresses, related names) by msgspec: the dialect's default,
        # json.loads, was 8% of an uncached page's time (two values a row).
        json_deserializer=msgspec.json.decode,
    )


async def fetch_all(source: Source, statement: Executable, params: dict[str, Any] | None = None) -> list[Row]:
    if isinstance(source, AsyncSession):
        return list((await source.execute(statement, params)).all())
    async with source.connect() as connection:
        return list((await connection.execute(statement, params)).all())


async def fetch_first(source: Source, statement: Executable, params: dict[str, Any] | None = None) -> Row | None:
    rows = await fetch_all(source, statement, params)
    return rows[0] if rows else None


_DIALECT = asyncpg_dialect()
# A statement's text as the driver takes it ($1, $2, …) and its parameters' names in that order, per statement
# (the listing machinery builds each shape's statement once and keeps it, kith.pagination.listing).
_driver_sql: dict[int, tuple[TextClause, str, tuple[str, ...]]] = {}


def driver_sql(statement: TextClause) -> tuple[str, tuple[str, ...]]:
    if (known := _driver_sql.get(id(statement))) is None or known[0] is not statement:
        compiled = statement.compile(dialect=_DIALECT)
        known = _driver_sql[id(statement)] = (statement, str(compiled), tuple(compiled.positiontup or ()))
    return known[1], known[2]


async def fetch_positional(source: Source, statement: TextClause, params: dict[str, Any]) -> Sequence[Any]:
    """The rows of one statement, each indexable by position and slice.

    On the reader engine the statement goes to the driver itself: asyncpg prepares it once per connection
    (its statement cache; the reader's connections plan it generically) and returns its records, without
    SQLAlchemy's execution context and result rows (~200 µs of a listing page's Python time, measured in
    process). It is still counted where statements are counted (the engine's `before_cursor_execute`
    listeners: metrics, tests), and a driver error is a DBAPIError (its `orig` the driver's, with its
    sqlstate), the connection invalidated when it is gone, as SQLAlchemy would. A session (a read after a
    write in the same request) or a routed read (replicas, with their failover) takes the usual path.
    """
    if not isinstance(source, AsyncEngine):
        return await fetch_all(source, statement, params)
    sql, names = driver_sql(statement)
    return await greenlet_spawn(_fetch_on_driver, source.sync_engine, sql, [params[name] for name in names])


def _fetch_on_driver(engine: Engine, sql: str, args: list[Any]) -> Sequence[Any]:
    """Checkout, fetch and checkin in one greenlet (AsyncEngine.connect, get_raw_connection and close would
    each start one of their own)."""
    with engine.connect() as connection:
        if connection.dispatch.before_cursor_execute:
            connection.dispatch.before_cursor_execute(connection, None, sql, tuple(args), None, False)
        driver = connection.connection.driver_connection
        try:
            return await_only(driver.fetch(sql, *args))
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            gone = driver.is_closed() or isinstance(exc, (asyncpg.ConnectionDoesNotExistError, OSError))
            if gone:
                connection.invalidate(exc)
            raise DBAPIError(sql, tuple(args), exc, connection_invalidated=gone) from exc
