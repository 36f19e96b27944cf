"""Connections: a tenant's link to an external account (Google), with its OAuth tokens encrypted.

Revision ID: 0014
Revises: 0013

The default plan includes the `google` connector.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False, start=1, increment=1), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("account", sa.Text(), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("status", sa.Text(), server_default="active", nullable=False),
        sa.Column("refresh_token", sa.LargeBinary(), nullable=False),
        sa.Column("access_token", sa.LargeBinary(), nullable=True),
        sa.Column("access_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "options", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column(
            "checkpoint", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("current_run_id", sa.BigInteger(), nullable=True),
        sa.Column("last_run_id", sa.BigInteger(), nullable=True),
        sa.Column("last_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("status IN ('active', 'needs_reauth')", name=op.f("ck_connections_status")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["current_run_id"], ["sync_runs.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["last_run_id"], ["sync_runs.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connections")),
    )
    op.create_index(
        "uq_connections_tenant_provider_account", "connections", ["tenant_id", "provider", "account"], unique=True
    )
    # The listing: newest first.
    op.create_index("ix_connections_tenant_created", "connections", ["tenant_id", "created_at", "id"])
    # The scheduler's look for due connections.
    op.create_index(
        "ix_connections_due", "connections", ["next_sync_at"], postgresql_where=sa.text("status = 'active'")
    )
    # Sync runs are deleted by age (cleanup): the references to them are found by index.
    op.create_index("ix_connections_current_run", "connections", ["current_run_id"])
    op.create_index("ix_connections_last_run", "connections", ["last_run_id"])
    op.execute("UPDATE plans SET connectors = connectors || ARRAY['google'] WHERE is_default")


def downgrade() -> None:
    op.execute("UPDATE plans SET connectors = array_remove(connectors, 'google')")
    op.drop_table("connections")
