-- conversation_summaries: one row per conversation, with what the conversation listings sort and filter on.
--
-- `conversation_summary_rows` is the plain (always current) definition; the
-- slices (materialized views) store it. Listings read the tenant's slice for rows
-- unchanged since its refresh and `conversation_summary_live`
-- (conversation_summary_live.sql, same columns) for the conversations an API
-- write changed since (DESIGN: fresh reads over views). Each per-conversation
-- part is an index look-up on messages (tenant_id, conversation_id, sent_at, id),
-- read from either end.
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

-- The read model's slices (kith.readmodels.models): materialized views of conversation_summary_rows, each holding the
-- rows of some tenants; each gets these indexes, `{slice}` standing for its name.
-- REFRESH ... CONCURRENTLY needs a unique index without a WHERE clause.
CREATE UNIQUE INDEX uq_{slice}_tenant_id ON {slice} (tenant_id, id);
-- One seek index per sort and filter, its order matching the listing's ORDER BY (most recent activity first).
CREATE INDEX ix_{slice}_recent ON {slice} (tenant_id, last_activity_at DESC, id DESC);
CREATE INDEX ix_{slice}_contact_recent ON {slice} (tenant_id, contact_id, last_activity_at DESC, id DESC);
CREATE INDEX ix_{slice}_channel_recent ON {slice} (tenant_id, channel, last_activity_at DESC, id DESC);
CREATE INDEX ix_{slice}_awaiting_recent ON {slice} (tenant_id, awaiting_reply, last_activity_at DESC, id DESC);
