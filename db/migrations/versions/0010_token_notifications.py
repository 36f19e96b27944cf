"""Token changes are announced on the `kith_events` channel, so each API process can keep the tokens it verified.

Revision ID: 0010
Revises: 0009

A revoked, re-scoped, re-dated or deleted token (also by a cascade from its user or tenant), or a tenant
whose time zone changes, sends `{"kind": "token", ...}` at commit, whoever made the change. The touch of
`last_used_at` announces nothing: it is not what a cached principal holds.
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UPGRADE = (
    """
CREATE FUNCTION kith_notify_token_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kith_events', json_build_object('kind', 'token', 'token_id', OLD.id)::text);
    RETURN NULL;
END $$
""",
    """
CREATE FUNCTION kith_notify_tenant_tokens_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kith_events', json_build_object('kind', 'token', 'tenant_id', OLD.id)::text);
    RETURN NULL;
END $$
""",
    """
CREATE TRIGGER api_tokens_notify_update AFTER UPDATE ON api_tokens
    FOR EACH ROW WHEN (
        (OLD.token_hash, OLD.tenant_id, OLD.user_id, OLD.scopes, OLD.expires_at, OLD.revoked_at)
        IS DISTINCT FROM (NEW.token_hash, NEW.tenant_id, NEW.user_id, NEW.scopes, NEW.expires_at, NEW.revoked_at)
    ) EXECUTE FUNCTION kith_notify_token_changed()
""",
    """
CREATE TRIGGER api_tokens_notify_delete AFTER DELETE ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION kith_notify_token_changed()
""",
    """
CREATE TRIGGER tenants_time_zone_notify AFTER UPDATE OF time_zone ON tenants
    FOR EACH ROW WHEN (OLD.time_zone IS DISTINCT FROM NEW.time_zone)
    EXECUTE FUNCTION kith_notify_tenant_tokens_changed()
""",
)

DOWNGRADE = (
    "DROP TRIGGER tenants_time_zone_notify ON tenants",
    "DROP TRIGGER api_tokens_notify_delete ON api_tokens",
    "DROP TRIGGER api_tokens_notify_update ON api_tokens",
    "DROP FUNCTION kith_notify_tenant_tokens_changed()",
    "DROP FUNCTION kith_notify_token_changed()",
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
