-- contact_cards: one row per live contact, with what the contact listings sort and filter on.
--
-- `contact_card_rows` is the plain (always current) definition; the slices (materialized
-- views) store it. Listings read the tenant's slice for rows unchanged since
-- its refresh and `contact_card_rows` for the few rows an API write changed since
-- (DESIGN: fresh reads over views), so both must have the same columns. The
-- per-contact LATERAL makes the live read an index look-up per changed contact.
--
-- Sort keys are never NULL, so keyset predicates stay plain row comparisons on
-- an index: never-contacted sorts as '-infinity' (last in "recent first"),
-- a cadence never met is due since '-infinity' (most overdue first).

CREATE VIEW contact_card_rows AS
SELECT
    c.tenant_id,
    c.id,
    c.full_name,
    lower(c.full_name) COLLATE "C" AS name_key,
    c.emails,
    c.phones,
    c.company,
    c.title,
    c.tags,
    c.birthday_month,
    c.birthday_day,
    c.birthday_year,
    (c.birthday_month * 100 + c.birthday_day)::smallint AS birthday_mmdd,
    -- As the API writes it: YYYY-MM-DD, or --MM-DD when the year is unknown.
    CASE WHEN c.birthday_month IS NOT NULL THEN
        coalesce(lpad(c.birthday_year::text, 4, '0'), '-') || '-' || lpad(c.birthday_month::text, 2, '0')
        || '-' || lpad(c.birthday_day::text, 2, '0')
    END AS birthday,
    c.cadence_days,
    c.links,
    c.notes,
    c.score,
    m.last_interaction_at,
    coalesce(m.last_interaction_at, '-infinity'::timestamptz) AS last_interaction_key,
    coalesce(m.messages_30d, 0)::integer AS messages_30d,
    coalesce(m.messages_90d, 0)::integer AS messages_90d,
    m.last_interaction_at + make_interval(days => c.cadence_days) AS follow_up_due_at,
    CASE WHEN c.cadence_days IS NOT NULL THEN
        coalesce(m.last_interaction_at + make_interval(days => c.cadence_days), '-infinity'::timestamptz)
    END AS follow_up_due_key,
    c.created_at,
    c.updated_at
FROM contacts c
LEFT JOIN LATERAL (
    SELECT
        max(msg.sent_at) AS last_interaction_at,
        count(*) FILTER (WHERE msg.sent_at >= now() - interval '30 days') AS messages_30d,
        count(*) FILTER (WHERE msg.sent_at >= now() - interval '90 days') AS messages_90d
    FROM messages msg
    WHERE msg.tenant_id = c.tenant_id AND msg.contact_id = c.id
) m ON true
WHERE c.deleted_at IS NULL;

-- The read model's slices (kith.readmodels.models): materialized views of contact_card_rows, each holding the
-- rows of some tenants; each gets these indexes, `{slice}` standing for its name.
-- REFRESH ... CONCURRENTLY needs a unique index without a WHERE clause.
CREATE UNIQUE INDEX uq_{slice}_tenant_id ON {slice} (tenant_id, id);
-- One seek index per sort, its order matching the listing's ORDER BY.
CREATE INDEX ix_{slice}_score ON {slice} (tenant_id, score DESC, id DESC);
CREATE INDEX ix_{slice}_name ON {slice} (tenant_id, name_key, id);
CREATE INDEX ix_{slice}_last_interaction ON {slice} (tenant_id, last_interaction_key DESC, id DESC);
CREATE INDEX ix_{slice}_created ON {slice} (tenant_id, created_at DESC, id DESC);
-- A company's contacts (GET /companies/{name}/contacts): one seek index per sort, after the company.
CREATE INDEX ix_{slice}_company_score ON {slice} (tenant_id, company, score DESC, id DESC);
CREATE INDEX ix_{slice}_company_name ON {slice} (tenant_id, company, name_key, id);
CREATE INDEX ix_{slice}_company_last_interaction ON {slice} (tenant_id, company, last_interaction_key DESC, id DESC);
CREATE INDEX ix_{slice}_company_created ON {slice} (tenant_id, company, created_at DESC, id DESC);
CREATE INDEX ix_{slice}_tags ON {slice} USING gin (tenant_id, tags);
CREATE INDEX ix_{slice}_birthday ON {slice} (tenant_id, birthday_mmdd, id) WHERE birthday_mmdd IS NOT NULL;
CREATE INDEX ix_{slice}_follow_up ON {slice} (tenant_id, follow_up_due_key, id) WHERE follow_up_due_key IS NOT NULL;
