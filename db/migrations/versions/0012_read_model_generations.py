"""Read models per tenant, step one: each slice's refresh record carries a generation.

`view_refreshes.generation` is drawn from the sequence `read_model_generations` on every successful
refresh (see kith.readmodels.models): it only ever grows, across slices too, so a page cache and ETags
can key on it.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE SEQUENCE read_model_generations")
    op.add_column("view_refreshes", sa.Column("generation", sa.BigInteger(), nullable=True))
    op.execute("UPDATE view_refreshes SET generation = nextval('read_model_generations') WHERE as_of IS NOT NULL")


def downgrade() -> None:
    op.drop_column("view_refreshes", "generation")
    op.execute("DROP SEQUENCE read_model_generations")
