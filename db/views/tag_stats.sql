-- tag_stats: one row per tag on a tenant's live contacts (a tag on no live contact is in no row),
-- with what GET /tags sorts on. `name` (C collation) is unique per tenant and ends every sort key.
-- A contact carrying a tag twice counts once.

CREATE MATERIALIZED VIEW tag_stats AS
WITH tagged AS (
    SELECT DISTINCT c.tenant_id, c.id, c.score, t.tag
    FROM contacts c
    CROSS JOIN LATERAL unnest(c.tags) AS t(tag)
    WHERE c.deleted_at IS NULL AND t.tag IS NOT NULL
),
activity AS (
    SELECT msg.tenant_id, msg.contact_id, count(*) AS messages_30d
    FROM messages msg
    WHERE msg.contact_id IS NOT NULL AND msg.sent_at >= now() - interval '30 days'
    GROUP BY msg.tenant_id, msg.contact_id
)
SELECT
    g.tenant_id,
    g.tag COLLATE "C" AS name,
    lower(g.tag) COLLATE "C" AS name_key,
    count(*)::integer AS contacts,
    avg(g.score)::double precision AS avg_score,
    coalesce(sum(a.messages_30d), 0)::integer AS messages_30d
FROM tagged g
LEFT JOIN activity a ON a.tenant_id = g.tenant_id AND a.contact_id = g.id
GROUP BY g.tenant_id, g.tag;

-- REFRESH ... CONCURRENTLY needs a unique index without a WHERE clause.
CREATE UNIQUE INDEX uq_tag_stats_tenant_name ON tag_stats (tenant_id, name);
-- One seek index per sort, its order matching the listing's ORDER BY.
CREATE INDEX ix_tag_stats_contacts ON tag_stats (tenant_id, contacts DESC, name DESC);
CREATE INDEX ix_tag_stats_score ON tag_stats (tenant_id, avg_score DESC, name DESC);
CREATE INDEX ix_tag_stats_name ON tag_stats (tenant_id, name_key, name);
