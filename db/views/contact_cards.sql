-- contact_cards: one row per live contact, with what the contact listings sort and filter on.
--
-- `contact_card_rows` is the plain (always current) definition; the slices (materialized
-- views) store it. Listings read the tenant's slice for rows unchanged since
-- its refresh and `contact_card_rows` for the few rows an API write changed since
-- (DESIGN: fresh reads over views), so both must have the same columns. The
-- per-contact LATERAL makes the live read an index look-up per changed contact.
--
-- Sort keys are never NULL, so keyset predicates stay plain row comparisons on
-- an index: never-contacted sorts as '-infinity' (last in "recent first").
-- A follow-up is due a cadence after the last interaction (or the creation). A contact's interactions
-- are the messages it is the contact of and those it is one more participant of (message_participants,
-- migration 0026: the others in To/Cc of an imported mail).
--
-- `search_key` is what `q` matches a substring of: the name, the nickname, the
-- company, the emails and each phone's digits, one per line (so no match spans two of them),
-- unaccented and lower-cased by kith_search_text (migration 0024: unaccent is
-- only STABLE, and an index needs an IMMUTABLE expression). A trigram index on
-- it answers `LIKE '%…%'` for any part of it. `search_bits` (migration 0031) has a bit set for each
-- trigram of letters a–z and digits in the key: a key holding a query holds each such trigram of it, so a
-- walk skips a row missing one of the query's bits before testing the key itself.

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
    -- What address books keep beside (imports: vCard NICKNAME, ORG units, ADR, related names).
    c.nickname,
    c.department,
    c.addresses,
    c.related,
    c.score,
    m.last_interaction_at,
    coalesce(m.last_interaction_at, '-infinity'::timestamptz) AS last_interaction_key,
    coalesce(m.messages_30d, 0)::integer AS messages_30d,
    coalesce(m.messages_90d, 0)::integer AS messages_90d,
    -- A cadence counts from the last interaction, or from the contact's creation when there is none
    -- yet: a new contact is not overdue before its first cadence has passed.
    coalesce(m.last_interaction_at, c.created_at) + make_interval(days => c.cadence_days) AS follow_up_due_at,
    coalesce(m.last_interaction_at, c.created_at) + make_interval(days => c.cadence_days) AS follow_up_due_key,
    c.created_at,
    c.updated_at,
    -- The company and tag filters match case-insensitively, on these.
    lower(c.company) COLLATE "C" AS company_key,
    ARRAY(SELECT lower(t) FROM unnest(c.tags) t) AS tag_keys,
    k.search_key,
    kith_search_bits(k.search_key) AS search_bits
FROM contacts c
CROSS JOIN LATERAL (
    SELECT kith_search_text(concat_ws(E'\n',
        c.full_name, c.nickname, c.company, array_to_string(c.emails, E'\n'),
        regexp_replace(array_to_string(c.phones, E'\n'), '[^0-9\n]', '', 'g')
    )) AS search_key
    OFFSET 0  -- computed once a row: pulled up, the key's expression was computed again for its bits
) k
LEFT JOIN LATERAL (
    SELECT
        max(msg.sent_at) AS last_interaction_at,
        count(*) FILTER (WHERE msg.sent_at >= now() - interval '30 days') AS messages_30d,
        count(*) FILTER (WHERE msg.sent_at >= now() - interval '90 days') AS messages_90d
    FROM (
        SELECT msg.sent_at FROM messages msg WHERE msg.tenant_id = c.tenant_id AND msg.contact_id = c.id
        UNION ALL
        SELECT p.sent_at FROM message_participants p WHERE p.tenant_id = c.tenant_id AND p.contact_id = c.id
    ) msg
) m ON true
WHERE c.deleted_at IS NULL;

-- The read model's slices (kith.readmodels.models): materialized views of contact_card_rows, each holding the
-- rows of some tenants; each gets these indexes, `{slice}` standing for its name.
-- REFRESH ... CONCURRENTLY needs a unique index without a WHERE clause.
CREATE UNIQUE INDEX uq_{slice}_tenant_id ON {slice} (tenant_id, id);
-- One seek index per sort, its order matching the listing's ORDER BY. Each holds the search key and its
-- bits too, so a search's walk along the sort (kith.pagination.listing, probing filters) reads the index alone.
CREATE INDEX ix_{slice}_score ON {slice} (tenant_id, score DESC, id DESC) INCLUDE (search_key, search_bits);
CREATE INDEX ix_{slice}_name ON {slice} (tenant_id, name_key, id) INCLUDE (search_key, search_bits);
CREATE INDEX ix_{slice}_last_interaction ON {slice} (tenant_id, last_interaction_key DESC, id DESC) INCLUDE (search_key, search_bits);
CREATE INDEX ix_{slice}_created ON {slice} (tenant_id, created_at DESC, id DESC) INCLUDE (search_key, search_bits);
-- A company's contacts (GET /companies/{name}/contacts, ?company=): one seek index per sort, after the company.
CREATE INDEX ix_{slice}_company_score ON {slice} (tenant_id, company_key, score DESC, id DESC);
CREATE INDEX ix_{slice}_company_name ON {slice} (tenant_id, company_key, name_key, id);
CREATE INDEX ix_{slice}_company_last_interaction ON {slice} (tenant_id, company_key, last_interaction_key DESC, id DESC);
CREATE INDEX ix_{slice}_company_created ON {slice} (tenant_id, company_key, created_at DESC, id DESC);
-- Search (`q`): trigrams of the search key. Not after the tenant: a slice of its own holds one tenant, a
-- shared one small tenants, so a search reads the matches alone (kith.pagination.listing, probing filters).
CREATE INDEX ix_{slice}_search ON {slice} USING gin (search_key gin_trgm_ops);
CREATE INDEX ix_{slice}_tags ON {slice} USING gin (tenant_id, tag_keys);
CREATE INDEX ix_{slice}_birthday ON {slice} (tenant_id, birthday_mmdd, id) WHERE birthday_mmdd IS NOT NULL;
CREATE INDEX ix_{slice}_follow_up ON {slice} (tenant_id, follow_up_due_key, id) WHERE follow_up_due_key IS NOT NULL;

-- After each refresh of a slice (kith.readmodels.coalesced_refresh), in a transaction of its own: the
-- search's statistics of the slice (search_trigrams), which kith_search_indexed reads to ask the trigram
-- index for the rare parts of a query (migration 0027) and kith_search_keys to bound how many keys a query
-- matches (migration 0028). Each trigram of three letters or digits with the share of search keys holding
-- it and the number of the slice's keys that share stands for, from a sample of about 300 pages (all of a
-- smaller slice); one seen fewer than twice is left out (rare).
DELETE FROM search_trigrams WHERE relation = '{slice}';
WITH fraction AS (
    SELECT least(1.0, 300.0 / greatest(pg_relation_size('{slice}') / 8192, 1)) AS sampled
), sampled AS MATERIALIZED (
    SELECT search_key FROM {slice} TABLESAMPLE SYSTEM ((SELECT 100 * sampled FROM fraction))
)
INSERT INTO search_trigrams (relation, trigram, share, keys)
SELECT '{slice}', t.trigram, count(*)::real / (SELECT count(*) FROM sampled),
       count(*) / (SELECT sampled FROM fraction)
FROM sampled s CROSS JOIN LATERAL unnest(show_trgm(s.search_key)) AS t(trigram)
WHERE t.trigram ~ '^[[:alnum:]]{3}$'
GROUP BY t.trigram
HAVING count(*) >= 2;
