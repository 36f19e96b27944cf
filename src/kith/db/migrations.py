"""Alembic, driven from code: `kith migrate`, `/ready`, and the tests use it."""

from __future__ import annotations

import asyncio
from functools import lru_cache

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from kith.db.paths import MIGRATIONS_DIR


def alembic_config(database_url: str | None = None) -> Config:
    """The configuration alembic.ini gives in a checkout, built here so an installed wheel needs no ini file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if database_url is not None:
        config.attributes["database_url"] = database_url
    return config


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _outside_event_loop() -> None:
    # env.py runs its own event loop: from inside one, call the async variants.
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError("call the async variant from inside an event loop")


def upgrade(database_url: str, revision: str = "head") -> None:
    _outside_event_loop()
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    _outside_event_loop()
    command.downgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    await asyncio.to_thread(command.upgrade, alembic_config(database_url), revision)


async def downgrade_async(database_url: str, revision: str = "base") -> None:
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), revision)
