"""Running a multi-statement SQL script inside an alembic migration (a view and its indexes)."""

from __future__ import annotations

from alembic import op
from sqlalchemy.util import await_only


def run_sql_script(sql: str) -> None:
    """asyncpg runs a statement without parameters through the simple query protocol, which
    accepts several statements; SQLAlchemy would prepare it."""
    driver_connection = op.get_bind().connection.driver_connection
    await_only(driver_connection.execute(sql))
