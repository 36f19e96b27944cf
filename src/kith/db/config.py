"""The database wiring of the app: advanced-alchemy's plugin for sessions, plus the autocommit reader."""

from __future__ import annotations

from advanced_alchemy.extensions.litestar import AsyncSessionConfig, EngineConfig, SQLAlchemyAsyncConfig
from litestar import Litestar
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncEngine

from kith.config import get_settings
from kith.db.budget import api_pools, pool_timeout
from kith.db.reads import READER_STATE_KEY, create_reader
from kith.db.urls import sqlalchemy_url


def get_sqlalchemy_config(database_url: str) -> SQLAlchemyAsyncConfig:
    return SQLAlchemyAsyncConfig(
        connection_string=sqlalchemy_url(database_url),
        session_config=AsyncSessionConfig(expire_on_commit=False),
        engine_config=EngineConfig(
            echo=get_settings().database.sql_echo,
            pool_size=api_pools().writer,
            max_overflow=0,  # the budget is a bound (kith.db.budget)
            pool_timeout=pool_timeout(),
        ),
        before_send_handler="autocommit",
        # Repository errors become problem documents (kith.problems), not advanced-alchemy's JSON.
        set_default_exception_handler=False,
        create_all=False,
    )


def reader_lifecycle(database_url: str):
    async def open_reader(app: Litestar) -> None:
        app.state[READER_STATE_KEY] = create_reader(database_url, api_pools().reader, pool_timeout())

    async def close_reader(app: Litestar) -> None:
        await app.state[READER_STATE_KEY].dispose()

    return open_reader, close_reader


def app_reader(app: Litestar) -> AsyncEngine:
    """The autocommit reader, for code outside dependency injection (the auth middleware)."""
    return app.state[READER_STATE_KEY]


def provide_reader(state: State) -> AsyncEngine:
    return state[READER_STATE_KEY]
