"""The SQLAlchemy plugin configuration (advanced-alchemy) for the app."""

from __future__ import annotations

from advanced_alchemy.extensions.litestar import AsyncSessionConfig, EngineConfig, SQLAlchemyAsyncConfig

from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncEngine

from kith.config import get_settings
from kith.db.reads import autocommit_engine
from kith.db.urls import sqlalchemy_url


SQLALCHEMY_CONFIG_STATE_KEY = "sqlalchemy_config"
READ_ENGINE_STATE_KEY = "read_engine"


def app_engine(app: Litestar) -> AsyncEngine:
    """The app's engine, for code that runs outside dependency injection (middleware)."""
    return app.state[SQLALCHEMY_CONFIG_STATE_KEY].get_engine()


def app_read_engine(app: Litestar) -> AsyncEngine:
    """The app's engine in autocommit, for single-statement reads outside a request's session."""
    engine = app.state.get(READ_ENGINE_STATE_KEY)
    if engine is None:
        engine = app.state[READ_ENGINE_STATE_KEY] = autocommit_engine(app_engine(app))
    return engine


def get_sqlalchemy_config(database_url: str) -> SQLAlchemyAsyncConfig:
    return SQLAlchemyAsyncConfig(
        connection_string=sqlalchemy_url(database_url),
        session_config=AsyncSessionConfig(expire_on_commit=False),
        engine_config=EngineConfig(echo=get_settings().sql_echo, pool_size=20, max_overflow=20),
        before_send_handler="autocommit",
        # Repository errors become problem documents (kith.problems), not advanced-alchemy's JSON.
        set_default_exception_handler=False,
        create_all=False,
    )
