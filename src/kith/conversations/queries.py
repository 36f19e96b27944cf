"""The conversation writes' SQL (listings are declared in kith.conversations.listings)."""

from __future__ import annotations

from sqlalchemy import text

# Starts a conversation with a live contact of the tenant (no row: no such contact). Marked changed,
# so it is listed at once, read live until the next refresh.
CREATE_CONVERSATION = text(
    """
    INSERT INTO conversations (tenant_id, user_id, contact_id, source, external_id, channel, subject, changed_at)
    SELECT :tenant_id, :user_id, c.id, 'api', gen_random_uuid()::text, :channel, :subject, now()
    FROM contacts c
    WHERE c.tenant_id = :tenant_id AND c.id = :contact_id AND c.deleted_at IS NULL
    RETURNING id
    """
)

# An outgoing message, sent now, to the conversation's contact (the one it was started with, else
# the contact of its first message, as the summary view says); the conversation is marked changed
# in the same statement, which also proves it is the tenant's (no row: no such conversation), and its
# last_message_at (the live sort key, db/views/conversation_summary_live.sql) is the message's sent_at.
SEND_MESSAGE = text(
    """
    WITH conversation AS (
        UPDATE conversations c SET changed_at = now(), updated_at = now(), last_message_at = now()
        WHERE c.tenant_id = :tenant_id AND c.id = :conversation_id
        RETURNING c.id, c.channel, c.contact_id
    )
    INSERT INTO messages (
        tenant_id, conversation_id, contact_id, channel, direction, sent_at, subject, body, source, external_id
    )
    SELECT :tenant_id, c.id,
           coalesce(c.contact_id, (SELECT m.contact_id FROM messages m
                                   WHERE m.tenant_id = :tenant_id AND m.conversation_id = c.id
                                     AND m.contact_id IS NOT NULL
                                   ORDER BY m.sent_at, m.id LIMIT 1)),
           c.channel, 'out', now(), :subject, :body, 'api', gen_random_uuid()::text
    FROM conversation c
    RETURNING id, conversation_id, contact_id, channel, direction, sent_at, subject, body
    """
)

# One message of a conversation of the tenant (the primary key, then the scope).
MESSAGE = text(
    """
    SELECT id, conversation_id, contact_id, channel, direction, sent_at, subject, body FROM messages
    WHERE id = :message_id AND tenant_id = :tenant_id AND conversation_id = :conversation_id
    """
)
