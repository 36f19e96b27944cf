-- tag_stats: one row per tag on a tenant's live contacts (a tag on no live contact is in no row),
-- with what GET /tags sorts on. `name` (C collation) is unique per tenant and ends every sort key.
-- A contact carrying a tag twice counts once. A contact's messages are those it is the contact of and
-- those it is one more participant of (message_participants, migration 0026), as in contact_cards.

CREATE VIEW tag_stats_rows AS
WITH activity AS (
    SELECT msg.tenant_id, msg.contact_id, count(*) AS messages_30d
    FROM (
        SELECT m.tenant_id, m.contact_id, m.sent_at FROM messages m WHERE m.contact_id IS NOT NULL
        UNION ALL
        SELECT p.tenant_id, p.contact_id, p.sent_at FROM message_participants p
    ) msg
    WHERE msg.sent_at >= now() - interval '30 days'
    GROUP BY msg.tenant_id, msg.contact_id
),
-- Each contact's activity joined once, on the contact's own key (the planner knows contacts.id is unique),
-- then its distinct tags: joining activity to the distinct (contact, tag) rows instead made a tenant's
-- own slice estimate billions of rows, and plan (and price) its aggregate for them.
tagged AS (
    SELECT c.tenant_id, c.score, t.tag, coalesce(a.messages_30d, 0) AS messages_30d
    FROM contacts c
    LEFT JOIN activity a ON a.tenant_id = c.tenant_id AND a.contact_id = c.id
    CROSS JOIN LATERAL (SELECT DISTINCT x.tag FROM unnest(c.tags) AS x(tag) WHERE x.tag IS NOT NULL) t
    WHERE c.deleted_at IS NULL
)
SELECT
    g.tenant_id,
    g.tag COLLATE "C" AS name,
    lower(g.tag) COLLATE "C" AS name_key,
    count(*)::integer AS contacts,
    avg(g.score)::double precision AS avg_score,
    sum(g.messages_30d)::integer AS messages_30d
FROM tagged g
GROUP BY g.tenant_id, g.tag;

-- The read model's slices (kith.readmodels.models): materialized views of tag_stats_rows, each holding the
-- rows of some tenants; each gets these indexes, `{slice}` standing for its name.
-- REFRESH ... CONCURRENTLY needs a unique index without a WHERE clause.
CREATE UNIQUE INDEX uq_{slice}_tenant_name ON {slice} (tenant_id, name);
-- One seek index per sort, its order matching the listing's ORDER BY.
CREATE INDEX ix_{slice}_contacts ON {slice} (tenant_id, contacts DESC, name DESC);
CREATE INDEX ix_{slice}_score ON {slice} (tenant_id, avg_score DESC, name DESC);
CREATE INDEX ix_{slice}_name ON {slice} (tenant_id, name_key, name);
