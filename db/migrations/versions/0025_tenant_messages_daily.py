"""The tenant_messages_daily read model: messages per tenant-local day, the dashboard's activity series.

Its rows view, its shared slices, and a slice of its own for each tenant that has slices of its own
(routed in tenant_dashboard, the last read model a move routes), so such a tenant stays isolated in
every read model. Each slice is created WITH DATA: that is its first refresh.

A frozen copy of db/views/tenant_messages_daily.sql as of this revision, and of how a slice is made of
it (kith.readmodels.models as of this revision).

Revision ID: 0025
Revises: 0024
"""

from __future__ import annotations

from alembic import op

from kith.db.scripts import run_sql_script

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

HASH_SLICES = 8
NAME, ROWS = "tenant_messages_daily", "tenant_messages_daily_rows"
SLICES_MARKER = "-- The read model's slices"

TENANT_MESSAGES_DAILY_SQL = """\
-- tenant_messages_daily: per tenant and day (in the tenant's time zone, as it was at the refresh), how
-- many messages it has: sent (`out`) and received (`in`). Days without a message have no row:
-- GET /dashboard/messages/daily fills them with 0.

CREATE VIEW tenant_messages_daily_rows AS
SELECT
    m.tenant_id,
    (m.sent_at AT TIME ZONE t.time_zone)::date AS day,
    count(*)::integer AS messages,
    (count(*) FILTER (WHERE m.direction = 'out'))::integer AS sent,
    (count(*) FILTER (WHERE m.direction = 'in'))::integer AS received
FROM messages m
JOIN tenants t ON t.id = m.tenant_id
GROUP BY m.tenant_id, (m.sent_at AT TIME ZONE t.time_zone)::date;

-- The read model's slices (kith.readmodels.models): materialized views of tenant_messages_daily_rows, each holding
-- the rows of some tenants; each gets these indexes, `{slice}` standing for its name.
-- Unique, so REFRESH ... CONCURRENTLY works; a tenant's series is one range of it.
CREATE UNIQUE INDEX uq_{slice} ON {slice} (tenant_id, day);
"""


def _routed(tenant_sql: str, hash_index: int | None = None, tenant_id: int | None = None) -> str:
    isolated = (
        f"EXISTS (SELECT 1 FROM read_model_routes o WHERE o.tenant_id = {tenant_sql} AND o.read_model = '{NAME}')"
    )
    if tenant_id is not None:
        return f"({tenant_sql} = {tenant_id} AND {isolated})"
    return f"({tenant_sql} % {HASH_SLICES} = {hash_index} AND NOT {isolated})"


def upgrade() -> None:
    at = TENANT_MESSAGES_DAILY_SQL.index(SLICES_MARKER)
    rows_sql, indexes = TENANT_MESSAGES_DAILY_SQL[:at], TENANT_MESSAGES_DAILY_SQL[at:]
    run_sql_script(rows_sql)
    own = [
        row[0]
        for row in op.get_bind().exec_driver_sql(
            "SELECT tenant_id FROM read_model_routes WHERE read_model = 'tenant_dashboard' ORDER BY tenant_id"
        )
    ]
    for t in own:
        op.execute(
            f"INSERT INTO read_model_routes (tenant_id, read_model, relation) VALUES ({t}, '{NAME}', '{NAME}_t{t}')"
        )
    slices = [(f"{NAME}_h{k}", k, None) for k in range(HASH_SLICES)] + [(f"{NAME}_t{t}", None, t) for t in own]
    branches = []
    for relation, hash_index, tenant_id in slices:
        if tenant_id is not None:
            query = f"SELECT * FROM {ROWS} WHERE tenant_id = {tenant_id}"
            routed = _routed("s.tenant_id", tenant_id=tenant_id)
        else:
            query = (
                f"SELECT r.* FROM tenants t CROSS JOIN LATERAL"
                f" (SELECT * FROM {ROWS} x WHERE x.tenant_id = t.id OFFSET 0) r WHERE {_routed('t.id', hash_index)}"
            )
            routed = _routed("s.tenant_id", hash_index)
        # A shared slice holds small tenants: read by index, whatever a generic estimate says (as the refresher).
        seqscan = "on" if tenant_id is not None else "off"
        run_sql_script(
            f"SET LOCAL enable_seqscan = {seqscan}; SET LOCAL jit = {seqscan};\n"
            f"CREATE MATERIALIZED VIEW {relation} AS {query};\n{indexes.replace('{slice}', relation)}"
        )
        op.execute(
            "INSERT INTO view_refreshes (view_name, status, started_at, finished_at, as_of, generation) "
            f"VALUES ('{relation}', 'succeeded', now(), now(), now(), nextval('read_model_generations'))"
        )
        branches.append(f"SELECT * FROM {relation} s WHERE {routed}")
    op.execute(f"CREATE VIEW {NAME} AS\n" + "\nUNION ALL\n".join(branches))


def downgrade() -> None:
    relations = [f"{NAME}_h{k}" for k in range(HASH_SLICES)] + [
        row[0]
        for row in op.get_bind().exec_driver_sql(f"SELECT relation FROM read_model_routes WHERE read_model = '{NAME}'")
    ]
    op.execute(f"DROP VIEW {NAME}")
    for relation in relations:
        op.execute(f"DROP MATERIALIZED VIEW {relation}")
        op.execute(f"DELETE FROM view_refreshes WHERE view_name = '{relation}'")
    op.execute(f"DELETE FROM read_model_routes WHERE read_model = '{NAME}'")
    op.execute(f"DROP VIEW {ROWS}")
