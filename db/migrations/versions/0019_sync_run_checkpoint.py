"""A sync run's checkpoint: where a run killed half-way resumes, with the counts it had.

Revision ID: 0019
Revises: 0018

Each batch of an import writes it in the transaction that lands the batch's rows and adds its counts to
the run (batches landed, the batch size they were read in, the stage counts kept outside the rows_*
columns). A run claimed again after its worker died skips the batches already landed and keeps their
counts, so it ends with the counts of a run never interrupted. NULL: no batch landed yet.
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE sync_runs ADD COLUMN checkpoint jsonb")


def downgrade() -> None:
    op.execute("ALTER TABLE sync_runs DROP COLUMN checkpoint")
