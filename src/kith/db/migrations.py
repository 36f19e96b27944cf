"""Alembic, driven from code: `kith migrate`, `/ready`, and the tests use it."""

from __future__ import annotations

import asyncio
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

PROJECT_ROOT = Path(__file__).resolve().parents[3]


def alembic_config(database_url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    return config


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    return ScriptDirectory.from_config(Config(str(PROJECT_ROOT / "alembic.ini"))).get_current_head()


def _run_in_thread(fn, *args) -> None:
    # env.py runs its own event loop; keep it off the caller's.
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        fn(*args)
        return
    raise RuntimeError("call the async variant from inside an event loop")


def upgrade(database_url: str, revision: str = "head") -> None:
    _run_in_thread(command.upgrade, alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    _run_in_thread(command.downgrade, alembic_config(database_url), revision)


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    await asyncio.to_thread(command.upgrade, alembic_config(database_url), revision)


async def downgrade_async(database_url: str, revision: str = "base") -> None:
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), revision)
