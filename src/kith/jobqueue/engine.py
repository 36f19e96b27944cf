"""The database engine of the jobs: opened when a worker starts, disposed when it stops.

Tasks receive it through a dependency (`engine: Engine`). A process that runs
jobs in-process (no REDIS_URL) may bind its own engine to the jobs it sends
(`bind_engine`): the API passes the app's engine, so the chain runs on the
same database as the request that started it; the binding follows the chain
(asyncio tasks copy the context of the task that created them).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Annotated

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from taskiq import AsyncBroker, TaskiqDepends, TaskiqEvents, TaskiqState

from kith.db.budget import JOB_POOL_TIMEOUT, worker_pool
from kith.db.engine import database_url
from kith.db.urls import sqlalchemy_url

logger = logging.getLogger(__name__)

_bound_engine: ContextVar[AsyncEngine | None] = ContextVar("kith_task_engine", default=None)


@contextmanager
def bind_engine(engine: AsyncEngine | None) -> Iterator[None]:
    token = _bound_engine.set(engine) if engine is not None else None
    try:
        yield
    finally:
        if token is not None:
            _bound_engine.reset(token)


def _open_engine() -> AsyncEngine:
    # pre_ping: a worker lives long; a connection the server dropped is replaced, not handed to a task.
    # Sized by the budget (kith.db.budget): jobs beyond it wait for a connection, then are retried.
    return create_async_engine(
        sqlalchemy_url(database_url()),
        pool_pre_ping=True,
        pool_size=worker_pool(),
        max_overflow=0,
        pool_timeout=JOB_POOL_TIMEOUT,
    )


def register_engine_lifecycle(broker: AsyncBroker) -> None:
    @broker.on_event(TaskiqEvents.WORKER_STARTUP)
    async def open_engine(state: TaskiqState) -> None:
        state.kith_engine = _open_engine()
        logger.info("jobs use %s", state.kith_engine.url.render_as_string(hide_password=True))

    @broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
    async def dispose_engine(state: TaskiqState) -> None:
        engine = state.pop("kith_engine", None)
        if engine is not None:
            await engine.dispose()


def provide_engine(state: TaskiqState = TaskiqDepends()) -> AsyncEngine:
    engine = _bound_engine.get() or state.get("kith_engine")
    if engine is None:
        # In-process jobs of a process that never started the broker as a worker (e.g. `kith import`).
        engine = state.kith_engine = _open_engine()
    return engine


Engine = Annotated[AsyncEngine, TaskiqDepends(provide_engine)]
