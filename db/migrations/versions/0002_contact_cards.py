"""The contact_cards read model (db/views/contact_cards.sql) and its refresh record.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

from kith.readmodels.views import run_sql_script, view_sql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_script(view_sql("contact_cards"))
    # Created WITH DATA just now: that is its first refresh.
    op.execute(
        "INSERT INTO view_refreshes (view_name, status, started_at, finished_at, as_of) "
        "VALUES ('contact_cards', 'succeeded', now(), now(), now())"
    )


def downgrade() -> None:
    op.execute("DELETE FROM view_refreshes WHERE view_name = 'contact_cards'")
    op.execute("DROP MATERIALIZED VIEW IF EXISTS contact_cards")
    op.execute("DROP VIEW IF EXISTS contact_card_rows")
