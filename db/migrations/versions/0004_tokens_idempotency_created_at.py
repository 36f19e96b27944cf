"""Tokens with scopes, expiry and last use; idempotency keys; created_at defaults that are the time of the insert.

Migration 0001 gave api_tokens, messages and mentions `DEFAULT 'now()'` (a string): PostgreSQL
turned it into the constant timestamp of the migration, so every row since carries that moment.
Here the default becomes `now()`. Which rows got the constant cannot be repaired (their real
insert time was never recorded), so each column's comment names the constant: a row whose
created_at equals it was created at an unknown time up to this migration.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

CONSTANT_CREATED_AT = ("api_tokens", "messages", "mentions")


def _constant_default(table: str) -> str | None:
    """The column's default when it is a constant (not a call of now()), as PostgreSQL shows it."""
    default = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d "
                "JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
                "WHERE d.adrelid = CAST(:table AS regclass) AND a.attname = 'created_at'"
            ),
            {"table": table},
        )
        .scalar()
    )
    return default if default and "now()" not in default else None


def upgrade() -> None:
    for table in CONSTANT_CREATED_AT:
        constant = _constant_default(table)
        op.alter_column(table, "created_at", server_default=sa.text("now()"))
        if constant is not None:
            note = (
                f"Default now() since migration 0004. Rows whose created_at equals {constant} were inserted "
                "under the constant default of migration 0001: their real creation time is unknown "
                "(at or before migration 0004)."
            )
            op.execute(f"COMMENT ON COLUMN {table}.created_at IS '{note.replace(chr(39), chr(39) * 2)}'")

    op.add_column(
        "api_tokens",
        sa.Column(
            "scopes",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{read,write,import}'"),
            nullable=False,
        ),
    )
    op.add_column("api_tokens", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("api_tokens", sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(
        op.f("ck_api_tokens_known_scopes"), "api_tokens", "scopes <@ ARRAY['read', 'write', 'import']::text[]"
    )

    op.create_table(
        "idempotency_keys",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        # SHA-256 of the method, path, query and body: the same key with another request is refused.
        sa.Column("fingerprint", sa.LargeBinary(), nullable=False),
        # The first response, replayed to every retry.
        sa.Column("status_code", sa.SmallInteger(), nullable=False),
        sa.Column(
            "headers", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("media_type", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_idempotency_keys_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "key", name=op.f("pk_idempotency_keys")),
    )
    # The clean-up deletes expired keys tenant by tenant.
    op.create_index("ix_idempotency_keys_tenant_expires", "idempotency_keys", ["tenant_id", "expires_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_tenant_expires", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_constraint(op.f("ck_api_tokens_known_scopes"), "api_tokens")
    op.drop_column("api_tokens", "last_used_at")
    op.drop_column("api_tokens", "expires_at")
    op.drop_column("api_tokens", "scopes")
    for table in CONSTANT_CREATED_AT:
        op.execute(f"COMMENT ON COLUMN {table}.created_at IS NULL")
        # Not back to 0001's constant: a default that stamps every row with one moment is the bug this fixed.
