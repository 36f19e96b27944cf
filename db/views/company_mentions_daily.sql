-- company_mentions_daily: per company named in a tenant's news mentions and per day (in the tenant's
-- time zone, as it was at the refresh), how many mentions name it. Days without a mention have no
-- row: GET /companies/{name}/mentions/daily fills them with 0. A mention without a publication time
-- is dated by its import.

CREATE VIEW company_mentions_daily_rows AS
SELECT
    m.tenant_id,
    named.company COLLATE "C" AS company,
    (coalesce(m.published_at, m.created_at) AT TIME ZONE t.time_zone)::date AS day,
    count(DISTINCT m.id)::integer AS mentions
FROM mentions m
JOIN tenants t ON t.id = m.tenant_id
CROSS JOIN LATERAL unnest(m.companies) AS named(company)
WHERE named.company IS NOT NULL
GROUP BY m.tenant_id, named.company, (coalesce(m.published_at, m.created_at) AT TIME ZONE t.time_zone)::date;

-- The read model's slices (kith.readmodels.models): materialized views of company_mentions_daily_rows, each holding the
-- rows of some tenants; each gets these indexes, `{slice}` standing for its name.
-- Unique, so REFRESH ... CONCURRENTLY works; a company's series is one range of it.
CREATE UNIQUE INDEX uq_{slice} ON {slice} (tenant_id, company, day);
