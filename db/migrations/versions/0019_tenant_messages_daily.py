"""The tenant_messages_daily read model: messages per tenant-local day, the dashboard's activity series.

A frozen copy of db/views/tenant_messages_daily.sql as of this revision.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

from alembic import op

from kith.db.scripts import run_sql_script

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

TENANT_MESSAGES_DAILY_SQL = """\
-- tenant_messages_daily: per tenant and day (in the tenant's time zone, as it was at the refresh), how
-- many messages it has: sent (`out`) and received (`in`). Days without a message have no row:
-- GET /dashboard/messages/daily fills them with 0.

CREATE MATERIALIZED VIEW tenant_messages_daily AS
SELECT
    m.tenant_id,
    (m.sent_at AT TIME ZONE t.time_zone)::date AS day,
    count(*)::integer AS messages,
    (count(*) FILTER (WHERE m.direction = 'out'))::integer AS sent,
    (count(*) FILTER (WHERE m.direction = 'in'))::integer AS received
FROM messages m
JOIN tenants t ON t.id = m.tenant_id
GROUP BY m.tenant_id, (m.sent_at AT TIME ZONE t.time_zone)::date;

-- Unique, so REFRESH ... CONCURRENTLY works; a tenant's series is one range of it.
CREATE UNIQUE INDEX uq_tenant_messages_daily ON tenant_messages_daily (tenant_id, day);
"""


def upgrade() -> None:
    run_sql_script(TENANT_MESSAGES_DAILY_SQL)
    # Created WITH DATA just now: that is its first refresh.
    op.execute(
        "INSERT INTO view_refreshes (view_name, status, started_at, finished_at, as_of, generation) "
        "VALUES ('tenant_messages_daily', 'succeeded', now(), now(), now(), nextval('read_model_generations')) "
        "ON CONFLICT (view_name) DO NOTHING"
    )


def downgrade() -> None:
    op.execute("DELETE FROM view_refreshes WHERE view_name = 'tenant_messages_daily'")
    op.execute("DROP MATERIALIZED VIEW IF EXISTS tenant_messages_daily")
