"""A listing's statement goes to the driver itself on the reader (kith.db.reads.fetch_positional): it is
counted where statements are counted, its rows come by position, and a driver error is a DBAPIError
carrying the server's sqlstate, the connection dropped from the pool when it is gone."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from kith.db.reads import create_reader, fetch_positional


@pytest.fixture
async def reader(db: str):
    engine = create_reader(db, pool_size=1, pool_timeout=5)
    yield engine
    await engine.dispose()


async def test_rows_by_position_and_counted(reader) -> None:
    seen: list[str] = []
    event.listen(reader.sync_engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    statement = text("SELECT CAST(:a AS integer) AS a, CAST(:b AS text) AS b, CAST(:a AS integer) + 1 AS c")
    rows = await fetch_positional(reader, statement, {"a": 41, "b": "x"})
    assert [tuple(row) for row in rows] == [(41, "x", 42)]
    assert rows[0][1:] == ("x", 42)
    assert len(seen) == 1 and "$1" in seen[0]


async def test_a_driver_error_is_a_dbapi_error_with_the_servers_sqlstate(reader) -> None:
    with pytest.raises(DBAPIError) as raised:
        await fetch_positional(reader, text("SELECT 1 / CAST(:zero AS integer)"), {"zero": 0})
    assert raised.value.orig.sqlstate == "22012"  # division_by_zero
    assert not raised.value.connection_invalidated
    assert [tuple(r) for r in await fetch_positional(reader, text("SELECT 1"), {})] == [(1,)]


async def test_a_connection_the_server_dropped_leaves_the_pool(reader) -> None:
    """The pool holds one connection: once its backend is gone, the next read must get a new one."""
    first = (await fetch_positional(reader, text("SELECT pg_backend_pid()"), {}))[0][0]
    with pytest.raises(DBAPIError) as raised:
        await fetch_positional(reader, text("SELECT pg_terminate_backend(pg_backend_pid())"), {})
    assert raised.value.connection_invalidated
    second = (await fetch_positional(reader, text("SELECT pg_backend_pid()"), {}))[0][0]
    assert second != first
