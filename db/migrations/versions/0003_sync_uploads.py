"""Sync: uploaded files kept in chunks until their run is done, the contacts each run touched, run options.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "sync_runs",
        sa.Column(
            "options", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
    )
    # The tables below reference a run together with its tenant, so a cascade (from the run or the
    # tenant) finds their rows through their primary keys, which lead with tenant_id as every index does.
    op.create_unique_constraint("uq_sync_runs_tenant_id_id", "sync_runs", ["tenant_id", "id"])
    op.create_table(
        "sync_uploads",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("sync_run_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "sync_run_id"],
            ["sync_runs.tenant_id", "sync_runs.id"],
            name=op.f("fk_sync_uploads_tenant_id_sync_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "sync_run_id", "seq", name=op.f("pk_sync_uploads")),
    )
    # Transient, read once: compressing it would only cost CPU on the way in and out.
    op.execute("ALTER TABLE sync_uploads ALTER COLUMN data SET STORAGE EXTERNAL")
    op.create_table(
        "sync_run_contacts",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("sync_run_id", sa.BigInteger(), nullable=False),
        sa.Column("contact_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "sync_run_id"],
            ["sync_runs.tenant_id", "sync_runs.id"],
            name=op.f("fk_sync_run_contacts_tenant_id_sync_runs"),
            ondelete="CASCADE",
        ),
        # No foreign key to contacts: its cascade would look rows up by contact_id alone (no index
        # leads with it), and the scorer joins contacts, so the id of a deleted contact is inert.
        sa.PrimaryKeyConstraint("tenant_id", "sync_run_id", "contact_id", name=op.f("pk_sync_run_contacts")),
    )


def downgrade() -> None:
    op.drop_table("sync_run_contacts")
    op.drop_table("sync_uploads")
    op.drop_constraint("uq_sync_runs_tenant_id_id", "sync_runs")
    op.drop_column("sync_runs", "options")
