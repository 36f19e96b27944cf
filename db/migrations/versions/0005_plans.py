"""Plans: per-tenant limits (requests per minute, contacts, upload size and concurrency, sources allowed).

A tenant without a plan_id is on the default plan (the one row with is_default).
Every change to a plan, or to a tenant's plan, is announced on the `kith_events`
channel by trigger, so each API process drops what it cached, whoever made the change.

Revision ID: 0005
Revises: 0008 (main's head when harden-b merged main; the lead linearizes)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

NOTIFY_STATEMENTS = (
    """
CREATE FUNCTION kith_notify_plan_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kith_events', json_build_object('kind', 'plan', 'plan_id', OLD.id)::text);
    RETURN NULL;
END $$
""",
    """
CREATE FUNCTION kith_notify_tenant_plan_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kith_events', json_build_object('kind', 'plan', 'tenant_id', NEW.id)::text);
    RETURN NULL;
END $$
""",
    """
CREATE TRIGGER plans_notify AFTER UPDATE OR DELETE ON plans
    FOR EACH ROW EXECUTE FUNCTION kith_notify_plan_changed()
""",
    """
CREATE TRIGGER tenants_plan_notify AFTER UPDATE OF plan_id ON tenants
    FOR EACH ROW WHEN (OLD.plan_id IS DISTINCT FROM NEW.plan_id) EXECUTE FUNCTION kith_notify_tenant_plan_changed()
""",
)


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False, unique=True),
        sa.Column("is_default", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("requests_per_minute", sa.Integer(), nullable=False),
        # NULL: no limit.
        sa.Column("max_contacts", sa.Integer()),
        sa.Column("max_upload_bytes", sa.BigInteger(), nullable=False),
        sa.Column("max_uploads_in_flight", sa.Integer(), nullable=False),
        sa.Column("max_queued_runs", sa.Integer(), nullable=False),
        sa.Column("connectors", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("requests_per_minute > 0 AND max_upload_bytes > 0", name="ck_plans_positive"),
        sa.CheckConstraint("max_uploads_in_flight > 0 AND max_queued_runs > 0", name="ck_plans_uploads_positive"),
    )
    op.create_index(
        "uq_plans_one_default", "plans", ["is_default"], unique=True, postgresql_where=sa.text("is_default")
    )
    op.execute(
        "INSERT INTO plans (name, is_default, requests_per_minute, max_contacts, max_upload_bytes,"
        " max_uploads_in_flight, max_queued_runs, connectors)"
        " VALUES ('default', true, 600, NULL, 52428800, 2, 8, ARRAY['vcard', 'mbox', 'linkedin', 'rss'])"
    )
    op.add_column(
        "tenants", sa.Column("plan_id", sa.BigInteger(), sa.ForeignKey("plans.id", name="fk_tenants_plan_id"))
    )
    for statement in NOTIFY_STATEMENTS:
        op.execute(statement)
    # The upload quota counts a tenant's unfinished runs on every upload.
    op.create_index(
        "ix_sync_runs_tenant_unfinished",
        "sync_runs",
        ["tenant_id"],
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )


def downgrade() -> None:
    op.drop_index("ix_sync_runs_tenant_unfinished", table_name="sync_runs")
    op.execute("DROP TRIGGER tenants_plan_notify ON tenants")
    op.execute("DROP FUNCTION kith_notify_tenant_plan_changed()")
    op.drop_column("tenants", "plan_id")
    op.execute("DROP TRIGGER plans_notify ON plans")
    op.execute("DROP FUNCTION kith_notify_plan_changed()")
    op.drop_table("plans")
