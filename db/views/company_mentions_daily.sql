-- company_mentions_daily: per company named in a tenant's news mentions and per day (in the tenant's
-- time zone, as it was at the refresh), how many mentions name it. Days without a mention have no
-- row: GET /companies/{name}/mentions/daily fills them with 0. A mention without a publication time
-- is dated by its import.

CREATE MATERIALIZED VIEW company_mentions_daily AS
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

-- Unique, so REFRESH ... CONCURRENTLY works; a company's series is one range of it.
CREATE UNIQUE INDEX uq_company_mentions_daily ON company_mentions_daily (tenant_id, company, day);
