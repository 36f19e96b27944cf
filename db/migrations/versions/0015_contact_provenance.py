"""Each contact field says where its value came from (contacts.provenance), so imports never overwrite the user.

Revision ID: 0015
Revises: 0014

`provenance` maps a field to `{"source", "record", "at"}` (a set field: each of its values to one); `source`
is `user` for a value set through the API. Adding a column with a constant default rewrites no row.
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE contacts ADD COLUMN provenance jsonb NOT NULL DEFAULT '{}'::jsonb")


def downgrade() -> None:
    op.execute("ALTER TABLE contacts DROP COLUMN provenance")
