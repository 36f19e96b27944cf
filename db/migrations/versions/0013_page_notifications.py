"""What a page shows changed: announced on the `kith_events` channel, so each API process can keep pages.

Revision ID: 0013
Revises: 0012

A statement that writes rows a listing reads (contacts, their keys, conversations, messages, mentions)
sends `{"kind": "rows", "tenant_id": …}` for each tenant it touched, at commit, whoever wrote (the API,
an import, a job); PostgreSQL sends a payload once per transaction, so a batch of a thousand rows is one
message. A refresh that moves a read model's `as_of` sends `{"kind": "readmodel", "view": …}`.
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TABLES = ("contacts", "contact_keys", "conversations", "messages", "mentions")
# A trigger with a transition table has one event; each names the rows it saw `changed_rows`.
EVENTS = {"insert": "NEW", "update": "NEW", "delete": "OLD"}

UPGRADE = [
    """
CREATE FUNCTION kith_notify_tenant_rows_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tenant bigint;
BEGIN
    FOR tenant IN SELECT DISTINCT tenant_id FROM changed_rows LOOP
        PERFORM pg_notify('kith_events', json_build_object('kind', 'rows', 'tenant_id', tenant)::text);
    END LOOP;
    RETURN NULL;
END $$
""",
    """
CREATE FUNCTION kith_notify_read_model_refreshed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kith_events', json_build_object('kind', 'readmodel', 'view', NEW.view_name)::text);
    RETURN NULL;
END $$
""",
    """
CREATE TRIGGER view_refreshes_notify AFTER INSERT OR UPDATE OF as_of ON view_refreshes
    FOR EACH ROW EXECUTE FUNCTION kith_notify_read_model_refreshed()
""",
    *(
        f"CREATE TRIGGER {table}_notify_{event} AFTER {event.upper()} ON {table}"
        f" REFERENCING {rows} TABLE AS changed_rows"
        " FOR EACH STATEMENT EXECUTE FUNCTION kith_notify_tenant_rows_changed()"
        for table in TABLES
        for event, rows in EVENTS.items()
    ),
]

DOWNGRADE = [
    *(f"DROP TRIGGER {table}_notify_{event} ON {table}" for table in TABLES for event in EVENTS),
    "DROP TRIGGER view_refreshes_notify ON view_refreshes",
    "DROP FUNCTION kith_notify_read_model_refreshed()",
    "DROP FUNCTION kith_notify_tenant_rows_changed()",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
