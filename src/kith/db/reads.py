"""Single-statement reads without a transaction around them.

A listing page is one SELECT; wrapping it in BEGIN … COMMIT would cost two
more round trips per request. Outside a transaction the statement runs in
autocommit (still one consistent snapshot: it is one statement).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Executable, Result
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}


async def read(session: AsyncSession, statement: Executable, params: dict[str, Any] | None = None) -> Result:
    if session.in_transaction():  # after a write in the same request: read what it wrote
        return await session.execute(statement, params)
    connection = await session.connection(execution_options=AUTOCOMMIT)
    return await connection.execute(statement, params)


def autocommit_engine(engine: AsyncEngine) -> AsyncEngine:
    """The same pool, no BEGIN/COMMIT around each statement."""
    return engine.execution_options(**AUTOCOMMIT)
