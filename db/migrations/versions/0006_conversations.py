"""Conversations: the conversation_summaries read model, a conversation's contact, fresh-read and timeline indexes.

Revision ID: 0006
Revises: 0003

The view SQL below is a frozen copy of db/views/conversation_summaries.sql as of this
revision (the file is the source of truth for the current definition; a later change
to it comes with its own migration).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kith.db.scripts import run_sql_script

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

CONVERSATION_SUMMARIES_SQL = """
-- conversation_summaries: one row per conversation, with what the conversation listings sort and filter on.
--
-- `conversation_summary_rows` is the plain (always current) definition; the
-- materialized view stores it. Listings read the materialized view for rows
-- unchanged since its refresh and `conversation_summary_rows` for the few
-- conversations an API write changed since (DESIGN: fresh reads over views), so
-- both have the same columns. Each per-conversation part is an index look-up on
-- messages (tenant_id, conversation_id, sent_at, id), read from either end, so
-- the live read of a changed conversation costs a probe or two. The count and
-- the contact are scalar subqueries in the select list: under ORDER BY … LIMIT
-- PostgreSQL evaluates them after the sort, only for the rows the page keeps.
--
-- The last message is the newest by (sent_at, id), the same order the message
-- listing uses. A conversation's contact is the one it was started with
-- (`conversations.contact_id`, set by the API), else the contact of its first
-- message (imported threads). `last_activity_at` is never NULL: the last
-- message, else the conversation's creation. `awaiting_reply`: the last message
-- came in, so no reply went out after it.

CREATE VIEW conversation_summary_rows AS
SELECT
    c.tenant_id,
    c.id,
    c.user_id,
    coalesce(c.contact_id, (
        SELECT m.contact_id FROM messages m
        WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id AND m.contact_id IS NOT NULL
        ORDER BY m.sent_at, m.id
        LIMIT 1
    )) AS contact_id,
    c.channel,
    c.subject,
    (SELECT count(*) FROM messages m WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id)::bigint
        AS message_count,
    last_message.sent_at AS last_message_at,
    last_message.direction AS last_direction,
    left(last_message.body, 100) AS preview,
    coalesce(last_message.direction = 'in', false) AS awaiting_reply,
    coalesce(last_message.sent_at, c.created_at) AS last_activity_at,
    c.created_at,
    c.updated_at
FROM conversations c
LEFT JOIN LATERAL (
    SELECT m.sent_at, m.direction, m.body FROM messages m
    WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id
    ORDER BY m.sent_at DESC, m.id DESC
    LIMIT 1
) last_message ON true;

CREATE MATERIALIZED VIEW conversation_summaries AS SELECT * FROM conversation_summary_rows;

-- REFRESH ... CONCURRENTLY needs a unique index without a WHERE clause.
CREATE UNIQUE INDEX uq_conversation_summaries_tenant_id ON conversation_summaries (tenant_id, id);
-- One seek index per sort and filter, its order matching the listing's ORDER BY (most recent activity first).
CREATE INDEX ix_conversation_summaries_recent
    ON conversation_summaries (tenant_id, last_activity_at DESC, id DESC);
CREATE INDEX ix_conversation_summaries_contact_recent
    ON conversation_summaries (tenant_id, contact_id, last_activity_at DESC, id DESC);
CREATE INDEX ix_conversation_summaries_channel_recent
    ON conversation_summaries (tenant_id, channel, last_activity_at DESC, id DESC);
CREATE INDEX ix_conversation_summaries_awaiting_recent
    ON conversation_summaries (tenant_id, awaiting_reply, last_activity_at DESC, id DESC);
"""


def upgrade() -> None:
    # The contact a conversation was started with (the API sets it; imported threads leave it NULL).
    op.add_column("conversations", sa.Column("contact_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        "fk_conversations_contact_id_contacts", "conversations", "contacts", ["contact_id"], ["id"], ondelete="SET NULL"
    )
    # Conversations an API write changed since the last refresh are read live (DESIGN: fresh reads).
    op.create_index("ix_conversations_tenant_changed", "conversations", ["tenant_id", "changed_at"])
    # A contact's timeline seeks on (sent_at, id); the old index lacked the id tie-breaker.
    op.create_index("ix_messages_tenant_contact_sent_id", "messages", ["tenant_id", "contact_id", "sent_at", "id"])
    op.drop_index("ix_messages_tenant_contact_sent", table_name="messages")
    run_sql_script(CONVERSATION_SUMMARIES_SQL)
    # Created WITH DATA just now: that is its first refresh.
    op.execute(
        "INSERT INTO view_refreshes (view_name, status, started_at, finished_at, as_of) "
        "VALUES ('conversation_summaries', 'succeeded', now(), now(), now())"
    )


def downgrade() -> None:
    op.execute("DELETE FROM view_refreshes WHERE view_name = 'conversation_summaries'")
    op.execute("DROP MATERIALIZED VIEW IF EXISTS conversation_summaries")
    op.execute("DROP VIEW IF EXISTS conversation_summary_rows")
    op.create_index("ix_messages_tenant_contact_sent", "messages", ["tenant_id", "contact_id", "sent_at"])
    op.drop_index("ix_messages_tenant_contact_sent_id", table_name="messages")
    op.drop_index("ix_conversations_tenant_changed", table_name="conversations")
    op.drop_constraint("fk_conversations_contact_id_contacts", "conversations", type_="foreignkey")
    op.drop_column("conversations", "contact_id")
