"""Imports keep more of what the user has: a contact's nickname, department, postal addresses and related
people; a tenant's choice to import bulk mail.

Revision ID: 0011
Revises: 0010

`tenants.skip_bulk_mail` (on by default): mail from lists and no-reply senders creates no contact and owes
no reply (kith.sync.sources.bulk_mail); off, it is imported like any mail. The contact columns take what
address books hold beyond names, emails and phones (vCard NICKNAME, ORG units, ADR, X-ABRELATEDNAMES /
RELATED; the CSV exports' equivalents). Adding them with constant defaults rewrites no row.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("skip_bulk_mail", sa.Boolean(), server_default="true", nullable=False))
    op.add_column("contacts", sa.Column("nickname", sa.Text(), nullable=True))
    op.add_column("contacts", sa.Column("department", sa.Text(), nullable=True))
    op.add_column(
        "contacts",
        sa.Column("addresses", postgresql.JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False),
    )
    op.add_column(
        "contacts",
        sa.Column("related", postgresql.JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False),
    )


def downgrade() -> None:
    for column in ("related", "addresses", "department", "nickname"):
        op.drop_column("contacts", column)
    op.drop_column("tenants", "skip_bulk_mail")
