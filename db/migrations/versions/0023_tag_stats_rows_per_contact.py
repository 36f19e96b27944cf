"""tag_stats_rows joins each contact's activity once, on the contact, before its distinct tags.

Revision ID: 0023
Revises: 0022

Joining the 30-day activity to the distinct (contact, tag) rows left the planner no statistics for the
join: a tenant's own slice was estimated at billions of rows (10,583,148,464 for the large tenant of
1,000,000 contacts), its aggregate planned to spill and the whole priced past every JIT threshold. Same
rows (avg_score up to float rounding); on a medium tenant (100,000 contacts) its own slice's query
1.65 s → 1.05 s, all tenants 1.43 s → 0.88 s, a shared slice 52 ms → 37 ms.

A frozen copy of db/views/tag_stats.sql's rows definition (tests/test_migrations.py proves they agree);
the slices, materialized views of tag_stats_rows, keep their contents until their next refresh.
"""

from __future__ import annotations

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

ROWS = """
CREATE OR REPLACE VIEW tag_stats_rows AS
WITH activity AS (
    SELECT msg.tenant_id, msg.contact_id, count(*) AS messages_30d
    FROM messages msg
    WHERE msg.contact_id IS NOT NULL AND msg.sent_at >= now() - interval '30 days'
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
"""

PREVIOUS = """
CREATE OR REPLACE VIEW tag_stats_rows AS
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
"""


def upgrade() -> None:
    op.execute(ROWS)


def downgrade() -> None:
    op.execute(PREVIOUS)
