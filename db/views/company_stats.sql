-- company_stats: one row per company of a tenant's live contacts (contacts whose company is NULL are
-- in no row), with what GET /companies sorts and filters on.
--
-- `name` is the company as written on the contacts, in C collation so its order is the same on every
-- server; it is unique per tenant and ends every sort key. `recent_activity` is messages with the
-- company's contacts plus news mentions of it, both in the last 30 days. Sort keys are never NULL.
-- A contact's messages are those it is the contact of and those it is one more participant of
-- (message_participants, migration 0026), as in contact_cards.

CREATE VIEW company_stats_rows AS
WITH activity AS (
    SELECT msg.tenant_id, msg.contact_id, max(msg.sent_at) AS last_interaction_at,
           count(*) FILTER (WHERE msg.sent_at >= now() - interval '30 days') AS messages_30d
    FROM (
        SELECT m.tenant_id, m.contact_id, m.sent_at FROM messages m WHERE m.contact_id IS NOT NULL
        UNION ALL
        SELECT p.tenant_id, p.contact_id, p.sent_at FROM message_participants p
    ) msg
    GROUP BY msg.tenant_id, msg.contact_id
),
per_company AS (
    SELECT c.tenant_id, c.company, count(*) AS contacts, avg(c.score) AS avg_score,
           max(a.last_interaction_at) AS last_interaction_at, coalesce(sum(a.messages_30d), 0) AS messages_30d
    FROM contacts c
    LEFT JOIN activity a ON a.tenant_id = c.tenant_id AND a.contact_id = c.id
    WHERE c.deleted_at IS NULL AND c.company IS NOT NULL
    GROUP BY c.tenant_id, c.company
),
news AS (
    SELECT m.tenant_id, named.company, count(DISTINCT m.id) AS mentions_30d
    FROM mentions m
    CROSS JOIN LATERAL unnest(m.companies) AS named(company)
    WHERE coalesce(m.published_at, m.created_at) >= now() - interval '30 days' AND named.company IS NOT NULL
    GROUP BY m.tenant_id, named.company
)
SELECT
    p.tenant_id,
    p.company COLLATE "C" AS name,
    lower(p.company) COLLATE "C" AS name_key,
    p.contacts::integer AS contacts,
    p.avg_score::double precision AS avg_score,
    p.last_interaction_at,
    p.messages_30d::integer AS messages_30d,
    coalesce(n.mentions_30d, 0)::integer AS mentions_30d,
    (p.messages_30d + coalesce(n.mentions_30d, 0))::integer AS recent_activity
FROM per_company p
LEFT JOIN news n ON n.tenant_id = p.tenant_id AND n.company = p.company;

-- The read model's slices (kith.readmodels.models): materialized views of company_stats_rows, each holding the
-- rows of some tenants; each gets these indexes, `{slice}` standing for its name.
-- REFRESH ... CONCURRENTLY needs a unique index without a WHERE clause; it also serves GET /companies/{name}.
CREATE UNIQUE INDEX uq_{slice}_tenant_name ON {slice} (tenant_id, name);
-- One seek index per sort, its order matching the listing's ORDER BY.
CREATE INDEX ix_{slice}_contacts ON {slice} (tenant_id, contacts DESC, name DESC);
CREATE INDEX ix_{slice}_score ON {slice} (tenant_id, avg_score DESC, name DESC);
CREATE INDEX ix_{slice}_recent_activity ON {slice} (tenant_id, recent_activity DESC, name DESC);
CREATE INDEX ix_{slice}_name ON {slice} (tenant_id, name_key, name);
