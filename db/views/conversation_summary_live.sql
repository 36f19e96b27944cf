-- conversation_summary_live: the conversations an API write marked changed and whose mark no refresh of
-- their slice of conversation_summaries has taken in yet, with its columns, computed from the base tables
-- (DESIGN: fresh reads over views). The listing keeps those marked since its slice's `as_of` (a probe by
-- primary key per row read): the view names no slice, so it serves every one.
--
-- The conversation listings read it instead of `conversation_summary_rows` for the changed rows. Its sort
-- key is a column read, not a look-up into messages: `last_activity_at` is the last message the API sent
-- (`conversations.last_message_at`, set with the message), else the creation. Imports neither mark rows
-- changed nor set that column; their messages appear with the refresh that follows them, like every batch
-- write. So a page seeks ix_conversations_live_recent (partial on changed_at IS NOT NULL) and stops after
-- the page's rows; the per-message columns are scalar
-- subqueries, which PostgreSQL evaluates after ORDER BY … LIMIT, only for the rows kept.
--
-- `message_count` is the refreshed count plus the messages newer than the refreshed last message (a range
-- read on the conversation's index; the refreshed figures are read from the plain view over all slices,
-- one unique-index probe per slice), not a count of the whole thread: a 1,000,000-message thread costs
-- what a small one does. A message newer than the view's last one cannot be in the view, so nothing is
-- counted twice; one not in the view but older (an import, or a send that committed during the refresh)
-- is counted from the next refresh on, like every batch write.

CREATE VIEW conversation_summary_live AS
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
    (
        coalesce((SELECT s.message_count FROM conversation_summaries s WHERE s.tenant_id = c.tenant_id AND s.id = c.id), 0)
        + (
            SELECT count(*) FROM messages m
            WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id
              AND m.sent_at > coalesce((
                  SELECT s.last_message_at FROM conversation_summaries s WHERE s.tenant_id = c.tenant_id AND s.id = c.id
              ), '-infinity')
        )
    )::bigint AS message_count,
    (
        SELECT m.sent_at FROM messages m
        WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id
        ORDER BY m.sent_at DESC, m.id DESC
        LIMIT 1
    ) AS last_message_at,
    (
        SELECT m.direction FROM messages m
        WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id
        ORDER BY m.sent_at DESC, m.id DESC
        LIMIT 1
    ) AS last_direction,
    (
        SELECT left(m.body, 100) FROM messages m
        WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id
        ORDER BY m.sent_at DESC, m.id DESC
        LIMIT 1
    ) AS preview,
    coalesce((
        SELECT m.direction = 'in' FROM messages m
        WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id
        ORDER BY m.sent_at DESC, m.id DESC
        LIMIT 1
    ), false) AS awaiting_reply,
    coalesce(c.last_message_at, c.created_at) AS last_activity_at,
    c.created_at,
    c.updated_at
FROM conversations c
WHERE c.changed_at IS NOT NULL;
