"""The page cache keys on a slice's generation and sees sync runs change (kith.pagination.cache).

Revision ID: 0022
Revises: 0021

A refresh's announcement (`readmodel`) carries the slice's new generation; a write to sync_runs (the
dashboard shows the last run) is announced as the tenant's rows (`rows`), like the tables of 0013.
"""

from __future__ import annotations

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

EVENTS = {"insert": "NEW", "update": "NEW", "delete": "OLD"}


def _announce_refresh(*fields: str) -> str:
    members = "".join(f", '{field}', NEW.{field}" for field in fields)
    return f"""
CREATE OR REPLACE FUNCTION kith_notify_read_model_refreshed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kith_events', json_build_object('kind', 'readmodel', 'view', NEW.view_name{members})::text);
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.execute(_announce_refresh("generation"))
    for event, rows in EVENTS.items():
        op.execute(
            f"CREATE TRIGGER sync_runs_notify_{event} AFTER {event.upper()} ON sync_runs"
            f" REFERENCING {rows} TABLE AS changed_rows"
            " FOR EACH STATEMENT EXECUTE FUNCTION kith_notify_tenant_rows_changed()"
        )


def downgrade() -> None:
    for event in EVENTS:
        op.execute(f"DROP TRIGGER sync_runs_notify_{event} ON sync_runs")
    op.execute(_announce_refresh())
