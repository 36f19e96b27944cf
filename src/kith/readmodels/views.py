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
    "tenant_messages_daily",
    "tenant_dashboard",
)

# Base tables whose `changed_at` marks are read through a partial index of the marked rows (see
# db/views/conversation_summary_live.sql): a refresh clears the marks it has taken in, so that index
# holds only the rows changed since the last refresh.
CLEARED_MARKS: dict[str, str] = {"conversation_summaries": "conversations"}


def view_sql(name: str) -> str:
    """The view's SQL file: its definition and its indexes (the source of truth)."""
    return (VIEWS_DIR / f"{name}.sql").read_text()
