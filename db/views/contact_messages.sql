-- contact_messages: each message once for every contact it is with, the rows a contact's timeline
-- (GET /contacts/{id}/timeline) reads: its contact (messages.contact_id) and each of its other
-- participants (message_participants: the others in To/Cc of an imported mail). `with_contact_id` is
-- the contact whose timeline the row is on; `contact_id` stays the message's own.
--
-- Both branches read one table, so a timeline filtered on with_contact_id reads each in (sent_at, id)
-- order from its index (ix_messages_tenant_contact_sent_id, message_participants' primary key) and
-- merges the two. A participant's row (`participant`) holds the message's key, time and direction
-- only: the listing reads the rest of its page's such rows by id (kith.conversations.listings).

CREATE VIEW contact_messages AS
SELECT m.tenant_id, m.contact_id AS with_contact_id, m.id, m.conversation_id, m.contact_id, m.channel,
       m.direction, m.sent_at, m.subject, m.body, false AS participant
FROM messages m
UNION ALL
SELECT p.tenant_id, p.contact_id AS with_contact_id, p.message_id AS id, NULL::bigint AS conversation_id,
       NULL::bigint AS contact_id, NULL::text AS channel, p.direction, p.sent_at, NULL::text AS subject,
       NULL::text AS body, true AS participant
FROM message_participants p;
