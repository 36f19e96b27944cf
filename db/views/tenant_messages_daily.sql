-- tenant_messages_daily: per tenant and day (in the tenant's time zone, as it was at the refresh), how
-- many messages it has: sent (`out`) and received (`in`). Days without a message have no row:
-- GET /dashboard/messages/daily fills them with 0.

CREATE VIEW tenant_messages_daily_rows AS
SELECT
    m.tenant_id,
    (m.sent_at AT TIME ZONE t.time_zone)::date AS day,
    count(*)::integer AS messages,
    (count(*) FILTER (WHERE m.direction = 'out'))::integer AS sent,
    (count(*) FILTER (WHERE m.direction = 'in'))::integer AS received
FROM messages m
JOIN tenants t ON t.id = m.tenant_id
GROUP BY m.tenant_id, (m.sent_at AT TIME ZONE t.time_zone)::date;

-- The read model's slices (kith.readmodels.models): materialized views of tenant_messages_daily_rows, each holding
-- the rows of some tenants; each gets these indexes, `{slice}` standing for its name.
-- Unique, so REFRESH ... CONCURRENTLY works; a tenant's series is one range of it.
CREATE UNIQUE INDEX uq_{slice} ON {slice} (tenant_id, day);
