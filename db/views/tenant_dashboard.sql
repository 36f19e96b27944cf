-- tenant_dashboard: one row per tenant with the dashboard's stored numbers.
--
-- What is relative to *now* is not frozen here (DESIGN): the view stores stable keys with their
-- counts, and the dashboard's query compares them with today when it runs:
-- - `birthday_days` / `birthday_counts`: how many live contacts have their birthday on each month-day
--   (`mmdd`, as contact_cards.birthday_mmdd), summed over the coming days in the tenant's time zone;
-- - `follow_up_due_days` / `follow_up_due_counts`: how many contacts fall due on each UTC day
--   (a cadence after the last message or the creation: contact_cards.follow_up_due_key), summed below
--   today, plus the few falling due earlier today, read on contact_cards' follow-up index.
-- Message counts are as of the refresh. A conversation awaits a reply when its latest message came in.

CREATE VIEW tenant_dashboard_rows AS
WITH live_contacts AS (
    SELECT c.tenant_id, count(*) AS contacts FROM contacts c WHERE c.deleted_at IS NULL GROUP BY c.tenant_id
),
recent_messages AS (
    SELECT msg.tenant_id,
           count(*) FILTER (WHERE msg.sent_at >= now() - interval '7 days') AS messages_7d,
           count(*) AS messages_30d
    FROM messages msg
    WHERE msg.sent_at >= now() - interval '30 days'
    GROUP BY msg.tenant_id
),
awaiting AS (
    SELECT cv.tenant_id, count(*) AS conversations_awaiting_reply
    FROM conversations cv
    CROSS JOIN LATERAL (
        SELECT msg.direction FROM messages msg
        WHERE msg.tenant_id = cv.tenant_id AND msg.conversation_id = cv.id
        ORDER BY msg.sent_at DESC, msg.id DESC LIMIT 1
    ) latest
    WHERE latest.direction = 'in'
    GROUP BY cv.tenant_id
),
due AS (
    SELECT c.tenant_id,
           ((coalesce(last.sent_at, c.created_at) + make_interval(days => c.cadence_days))
            AT TIME ZONE 'UTC')::date AS day
    FROM contacts c
    -- The contact's last interaction as contact_cards has it: messages it is the contact of or one more
    -- participant of (message_participants, migration 0026).
    LEFT JOIN LATERAL (
        SELECT max(x.sent_at) AS sent_at FROM (
            SELECT msg.sent_at FROM messages msg WHERE msg.tenant_id = c.tenant_id AND msg.contact_id = c.id
            UNION ALL
            SELECT p.sent_at FROM message_participants p WHERE p.tenant_id = c.tenant_id AND p.contact_id = c.id
        ) x
    ) last ON true
    WHERE c.deleted_at IS NULL AND c.cadence_days IS NOT NULL
),
birthdays AS (
    SELECT b.tenant_id, array_agg(b.mmdd ORDER BY b.mmdd) AS days, array_agg(b.contacts ORDER BY b.mmdd) AS counts
    FROM (SELECT c.tenant_id, (c.birthday_month * 100 + c.birthday_day)::smallint AS mmdd, count(*)::integer AS contacts
          FROM contacts c WHERE c.deleted_at IS NULL AND c.birthday_month IS NOT NULL
          GROUP BY c.tenant_id, c.birthday_month, c.birthday_day) b
    GROUP BY b.tenant_id
),
due_days AS (
    SELECT d.tenant_id, array_agg(d.day ORDER BY d.day) AS days, array_agg(d.contacts ORDER BY d.day) AS counts
    FROM (SELECT tenant_id, day, count(*)::integer AS contacts FROM due GROUP BY tenant_id, day) d
    GROUP BY d.tenant_id
)
SELECT
    t.id AS tenant_id,
    coalesce(lc.contacts, 0)::integer AS contacts,
    coalesce(rm.messages_7d, 0)::integer AS messages_7d,
    coalesce(rm.messages_30d, 0)::integer AS messages_30d,
    coalesce(aw.conversations_awaiting_reply, 0)::integer AS conversations_awaiting_reply,
    coalesce(bd.days, '{}') AS birthday_days,
    coalesce(bd.counts, '{}') AS birthday_counts,
    coalesce(dd.days, '{}') AS follow_up_due_days,
    coalesce(dd.counts, '{}') AS follow_up_due_counts
FROM tenants t
LEFT JOIN live_contacts lc ON lc.tenant_id = t.id
LEFT JOIN recent_messages rm ON rm.tenant_id = t.id
LEFT JOIN awaiting aw ON aw.tenant_id = t.id
LEFT JOIN birthdays bd ON bd.tenant_id = t.id
LEFT JOIN due_days dd ON dd.tenant_id = t.id;

-- The read model's slices (kith.readmodels.models): materialized views of tenant_dashboard_rows, each holding the
-- rows of some tenants; each gets these indexes, `{slice}` standing for its name.
-- Unique, so REFRESH ... CONCURRENTLY works; the dashboard reads its tenant's row through it.
CREATE UNIQUE INDEX uq_{slice}_tenant ON {slice} (tenant_id);
