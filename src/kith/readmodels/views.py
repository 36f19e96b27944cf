"""The read models: materialized views whose SQL lives in `db/views/NAME.sql`."""

from __future__ import annotations

from kith.db.paths import VIEWS_DIR

# Every materialized view Kith serves listings from, in refresh order.
VIEWS: tuple[str, ...] = (
    "contact_cards",
    "conversation_summaries",
    "company_stats",
    "tag_stats",
    "company_mentions_daily",
    "tenant_dashboard",
)


def view_sql(name: str) -> str:
    """The view's SQL file: its definition and its indexes (the source of truth)."""
    return (VIEWS_DIR / f"{name}.sql").read_text()
