"""The aggregate read models (company_stats, tag_stats, company_mentions_daily, tenant_dashboard);
mentions.published_key (when a mention was published or, undated, imported) with the index GET /mentions
seeks on; contact_cards' per-company seek indexes for GET /companies/{name}/contacts.

Frozen copies of db/views/<name>.sql as of this revision: a later edit of a view file is a new
migration, never a rewrite of this one.

Revision ID: 0007
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kith.db.scripts import run_sql_script

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COMPANY_STATS_SQL = """\
-- company_stats: one row per company of a tenant's live contacts (contacts whose company is NULL are
-- in no row), with what GET /companies sorts and filters on.
--
-- `name` is the company as written on the contacts, in C collation so its order is the same on every
-- server; it is unique per tenant and ends every sort key. `recent_activity` is messages with the
-- company's contacts plus news mentions of it, both in the last 30 days. Sort keys are never NULL.

CREATE MATERIALIZED VIEW company_stats AS
WITH activity AS (
    SELECT msg.tenant_id, msg.contact_id, max(msg.sent_at) AS last_interaction_at,
           count(*) FILTER (WHERE msg.sent_at >= now() - interval '30 days') AS messages_30d
    FROM messages msg
    WHERE msg.contact_id IS NOT NULL
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

-- REFRESH ... CONCURRENTLY needs a unique index without a WHERE clause; it also serves GET /companies/{name}.
CREATE UNIQUE INDEX uq_company_stats_tenant_name ON company_stats (tenant_id, name);
-- One seek index per sort, its order matching the listing's ORDER BY.
CREATE INDEX ix_company_stats_contacts ON company_stats (tenant_id, contacts DESC, name DESC);
CREATE INDEX ix_company_stats_score ON company_stats (tenant_id, avg_score DESC, name DESC);
CREATE INDEX ix_company_stats_recent_activity ON company_stats (tenant_id, recent_activity DESC, name DESC);
CREATE INDEX ix_company_stats_name ON company_stats (tenant_id, name_key, name);
"""

TAG_STATS_SQL = """\
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
"""

COMPANY_MENTIONS_DAILY_SQL = """\
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
"""

TENANT_DASHBOARD_SQL = """\
-- tenant_dashboard: one row per tenant with the dashboard's stored numbers.
--
-- What is relative to *now* is not frozen here (DESIGN): the view stores stable keys with their
-- counts, and the dashboard's query compares them with today when it runs:
-- - `birthday_days` / `birthday_counts`: how many live contacts have their birthday on each month-day
--   (`mmdd`, as contact_cards.birthday_mmdd), summed over the coming days in the tenant's time zone;
-- - `follow_up_due_days` / `follow_up_due_counts`: how many contacts fall due on each UTC day
--   ('-infinity' for a cadence never met; the key of contact_cards.follow_up_due_key), summed below
--   today, plus the few falling due earlier today, read on contact_cards' follow-up index.
-- Message counts are as of the refresh. A conversation awaits a reply when its latest message came in.

CREATE MATERIALIZED VIEW tenant_dashboard AS
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
           coalesce((max(msg.sent_at) + make_interval(days => c.cadence_days)) AT TIME ZONE 'UTC',
                    '-infinity'::timestamp)::date AS day
    FROM contacts c
    LEFT JOIN messages msg ON msg.tenant_id = c.tenant_id AND msg.contact_id = c.id
    WHERE c.deleted_at IS NULL AND c.cadence_days IS NOT NULL
    GROUP BY c.tenant_id, c.id
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

-- Unique, so REFRESH ... CONCURRENTLY works; the dashboard reads its tenant's row through it.
CREATE UNIQUE INDEX uq_tenant_dashboard_tenant ON tenant_dashboard (tenant_id);
"""

# GET /companies/{name}/contacts seeks, for every sort, on (tenant_id, company, sort key…) of
# contact_cards (db/views/contact_cards.sql); the score one exists since 0002.
CONTACT_CARDS_COMPANY_INDEXES = """\
CREATE INDEX ix_contact_cards_company_name ON contact_cards (tenant_id, company, name_key, id);
CREATE INDEX ix_contact_cards_company_last_interaction ON contact_cards (tenant_id, company, last_interaction_key DESC, id DESC);
CREATE INDEX ix_contact_cards_company_created ON contact_cards (tenant_id, company, created_at DESC, id DESC);
"""

VIEWS = {
    "company_stats": COMPANY_STATS_SQL,
    "tag_stats": TAG_STATS_SQL,
    "company_mentions_daily": COMPANY_MENTIONS_DAILY_SQL,
    "tenant_dashboard": TENANT_DASHBOARD_SQL,
}


def upgrade() -> None:
    # Never NULL, so it can key a listing; the views date a mention the same way.
    op.execute(
        "ALTER TABLE mentions ADD COLUMN published_key timestamptz "
        "GENERATED ALWAYS AS (coalesce(published_at, created_at)) STORED NOT NULL"
    )
    op.create_index(
        "ix_mentions_tenant_published_key",
        "mentions",
        ["tenant_id", sa.text("published_key DESC"), sa.text("id DESC")],
    )
    run_sql_script(CONTACT_CARDS_COMPANY_INDEXES)
    for name, sql in VIEWS.items():
        run_sql_script(sql)
        # Created WITH DATA just now: that is its first refresh.
        op.execute(
            "INSERT INTO view_refreshes (view_name, status, started_at, finished_at, as_of) "
            f"VALUES ('{name}', 'succeeded', now(), now(), now()) "
            "ON CONFLICT (view_name) DO NOTHING"
        )


def downgrade() -> None:
    for name in reversed(VIEWS):
        op.execute(f"DELETE FROM view_refreshes WHERE view_name = '{name}'")
        op.execute(f"DROP MATERIALIZED VIEW IF EXISTS {name}")
    for index in (
        "ix_contact_cards_company_name",
        "ix_contact_cards_company_last_interaction",
        "ix_contact_cards_company_created",
    ):
        op.drop_index(index, table_name="contact_cards")
    op.drop_index("ix_mentions_tenant_published_key", table_name="mentions")
    op.drop_column("mentions", "published_key")
