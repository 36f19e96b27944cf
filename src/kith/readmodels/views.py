"""The read models: materialized views whose SQL lives in `db/views/NAME.sql`."""

from __future__ import annotations

from pathlib import Path

VIEWS_DIR = Path(__file__).resolve().parents[3] / "db" / "views"

# Every materialized view Kith serves listings from, in refresh order.
VIEWS: tuple[str, ...] = (
    "contact_cards",
    "company_stats",
    "tag_stats",
    "company_mentions_daily",
    "tenant_dashboard",
)


def view_sql(name: str) -> str:
    """The view's SQL file: its definition and its indexes (the source of truth)."""
    return (VIEWS_DIR / f"{name}.sql").read_text()


def run_sql_script(sql: str) -> None:
    """Run a multi-statement SQL script inside the current alembic migration.

    asyncpg runs a statement without parameters through the simple query
    protocol, which accepts several statements; SQLAlchemy would prepare it.
    """
    from alembic import op
    from sqlalchemy.util import await_only

    driver_connection = op.get_bind().connection.driver_connection
    await_only(driver_connection.execute(sql))
