"""Read models per tenant: each read model's rows are stored in slices, refreshed one at a time.

Small tenants share HASH_SLICES materialized views per read model (`NAME_h<k>`: tenants with
id % HASH_SLICES = k); a tenant with more than OWN_SLICE_CONTACTS live contacts gets one of its own
(`NAME_t<id>`, recorded in read_model_routes), here at once, later by `kith tenant isolate` or the
job an import sends. NAME becomes a plain view over all its slices. Each slice has its own refresh
record (view_refreshes). The aggregates' definitions become plain views (`NAME_rows`), which the
slices store; conversation_summary_live names no slice (the listing compares marks with its slice's
as_of).

Frozen copies of db/views/<name>.sql as of this revision (each rows' definition and the slices'
index template), and of how a slice is made of them (kith.readmodels.models as of this revision).
tests/test_migrations.py proves that `upgrade head` and the view files agree.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

from alembic import op

from kith.db.scripts import run_sql_script

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

HASH_SLICES = 8
OWN_SLICE_CONTACTS = 50_000  # the setting's default (KITH_OWN_SLICE_CONTACTS)

# (name, rows view) in refresh order
MODELS = [
    ("contact_cards", "contact_card_rows"),
    ("conversation_summaries", "conversation_summary_rows"),
    ("company_stats", "company_stats_rows"),
    ("tag_stats", "tag_stats_rows"),
    ("company_mentions_daily", "company_mentions_daily_rows"),
    ("tenant_dashboard", "tenant_dashboard_rows"),
]

# The aggregates' definitions, now plain views of every tenant's rows.
ROWS_SQL = {
    "company_stats": """\
-- company_stats: one row per company of a tenant's live contacts (contacts whose company is NULL are
-- in no row), with what GET /companies sorts and filters on.
--
-- `name` is the company as written on the contacts, in C collation so its order is the same on every
-- server; it is unique per tenant and ends every sort key. `recent_activity` is messages with the
-- company's contacts plus news mentions of it, both in the last 30 days. Sort keys are never NULL.

CREATE VIEW company_stats_rows AS
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

""",
    "tag_stats": """\
-- tag_stats: one row per tag on a tenant's live contacts (a tag on no live contact is in no row),
-- with what GET /tags sorts on. `name` (C collation) is unique per tenant and ends every sort key.
-- A contact carrying a tag twice counts once.

CREATE VIEW tag_stats_rows AS
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

""",
    "company_mentions_daily": """\
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

""",
    "tenant_dashboard": """\
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

CREATE VIEW tenant_dashboard_rows AS
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

""",
}

# Each read model's slice indexes, `{slice}` standing for the slice's name.
SLICE_INDEXES = {
    "contact_cards": """\
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
""",
    "conversation_summaries": """\
-- The read model's slices (kith.readmodels.models): materialized views of conversation_summary_rows, each holding the
-- rows of some tenants; each gets these indexes, `{slice}` standing for its name.
-- REFRESH ... CONCURRENTLY needs a unique index without a WHERE clause.
CREATE UNIQUE INDEX uq_{slice}_tenant_id ON {slice} (tenant_id, id);
-- One seek index per sort and filter, its order matching the listing's ORDER BY (most recent activity first).
CREATE INDEX ix_{slice}_recent ON {slice} (tenant_id, last_activity_at DESC, id DESC);
CREATE INDEX ix_{slice}_contact_recent ON {slice} (tenant_id, contact_id, last_activity_at DESC, id DESC);
CREATE INDEX ix_{slice}_channel_recent ON {slice} (tenant_id, channel, last_activity_at DESC, id DESC);
CREATE INDEX ix_{slice}_awaiting_recent ON {slice} (tenant_id, awaiting_reply, last_activity_at DESC, id DESC);
""",
    "company_stats": """\
-- The read model's slices (kith.readmodels.models): materialized views of company_stats_rows, each holding the
-- rows of some tenants; each gets these indexes, `{slice}` standing for its name.
-- REFRESH ... CONCURRENTLY needs a unique index without a WHERE clause; it also serves GET /companies/{name}.
CREATE UNIQUE INDEX uq_{slice}_tenant_name ON {slice} (tenant_id, name);
-- One seek index per sort, its order matching the listing's ORDER BY.
CREATE INDEX ix_{slice}_contacts ON {slice} (tenant_id, contacts DESC, name DESC);
CREATE INDEX ix_{slice}_score ON {slice} (tenant_id, avg_score DESC, name DESC);
CREATE INDEX ix_{slice}_recent_activity ON {slice} (tenant_id, recent_activity DESC, name DESC);
CREATE INDEX ix_{slice}_name ON {slice} (tenant_id, name_key, name);
""",
    "tag_stats": """\
-- The read model's slices (kith.readmodels.models): materialized views of tag_stats_rows, each holding the
-- rows of some tenants; each gets these indexes, `{slice}` standing for its name.
-- REFRESH ... CONCURRENTLY needs a unique index without a WHERE clause.
CREATE UNIQUE INDEX uq_{slice}_tenant_name ON {slice} (tenant_id, name);
-- One seek index per sort, its order matching the listing's ORDER BY.
CREATE INDEX ix_{slice}_contacts ON {slice} (tenant_id, contacts DESC, name DESC);
CREATE INDEX ix_{slice}_score ON {slice} (tenant_id, avg_score DESC, name DESC);
CREATE INDEX ix_{slice}_name ON {slice} (tenant_id, name_key, name);
""",
    "company_mentions_daily": """\
-- The read model's slices (kith.readmodels.models): materialized views of company_mentions_daily_rows, each holding the
-- rows of some tenants; each gets these indexes, `{slice}` standing for its name.
-- Unique, so REFRESH ... CONCURRENTLY works; a company's series is one range of it.
CREATE UNIQUE INDEX uq_{slice} ON {slice} (tenant_id, company, day);
""",
    "tenant_dashboard": """\
-- The read model's slices (kith.readmodels.models): materialized views of tenant_dashboard_rows, each holding the
-- rows of some tenants; each gets these indexes, `{slice}` standing for its name.
-- Unique, so REFRESH ... CONCURRENTLY works; the dashboard reads its tenant's row through it.
CREATE UNIQUE INDEX uq_{slice}_tenant ON {slice} (tenant_id);
""",
}

CONVERSATION_SUMMARY_LIVE_SQL = """\
-- conversation_summary_live: the conversations an API write marked changed and whose mark no refresh of
-- their slice of conversation_summaries has taken in yet, with its columns, computed from the base tables
-- (DESIGN: fresh reads over views). The listing keeps those marked since its slice's `as_of` (a probe by
-- primary key per row read): the view names no slice, so it serves every one.
--
-- The conversation listings read it instead of `conversation_summary_rows` for the changed rows. Its sort
-- key is a column read, not a look-up into messages: `last_activity_at` is the last message the API sent
-- (`conversations.last_message_at`, set with the message), else the creation. Imports neither mark rows
-- changed nor set that column; their messages appear with the refresh that follows them, like every batch
-- write. So a page seeks ix_conversations_live_recent (partial on changed_at IS NOT NULL) and stops after
-- the page's rows; the per-message columns are scalar
-- subqueries, which PostgreSQL evaluates after ORDER BY … LIMIT, only for the rows kept.
--
-- `message_count` is the refreshed count plus the messages newer than the refreshed last message (a range
-- read on the conversation's index; the refreshed figures are read from the plain view over all slices,
-- one unique-index probe per slice), not a count of the whole thread: a 1,000,000-message thread costs
-- what a small one does. A message newer than the view's last one cannot be in the view, so nothing is
-- counted twice; one not in the view but older (an import, or a send that committed during the refresh)
-- is counted from the next refresh on, like every batch write.

CREATE OR REPLACE VIEW conversation_summary_live AS
SELECT
    c.tenant_id,
    c.id,
    c.user_id,
    coalesce(c.contact_id, (
        SELECT m.contact_id FROM messages m
        WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id AND m.contact_id IS NOT NULL
        ORDER BY m.sent_at, m.id
        LIMIT 1
    )) AS contact_id,
    c.channel,
    c.subject,
    (
        coalesce((SELECT s.message_count FROM conversation_summaries s WHERE s.tenant_id = c.tenant_id AND s.id = c.id), 0)
        + (
            SELECT count(*) FROM messages m
            WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id
              AND m.sent_at > coalesce((
                  SELECT s.last_message_at FROM conversation_summaries s WHERE s.tenant_id = c.tenant_id AND s.id = c.id
              ), '-infinity')
        )
    )::bigint AS message_count,
    (
        SELECT m.sent_at FROM messages m
        WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id
        ORDER BY m.sent_at DESC, m.id DESC
        LIMIT 1
    ) AS last_message_at,
    (
        SELECT m.direction FROM messages m
        WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id
        ORDER BY m.sent_at DESC, m.id DESC
        LIMIT 1
    ) AS last_direction,
    (
        SELECT left(m.body, 100) FROM messages m
        WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id
        ORDER BY m.sent_at DESC, m.id DESC
        LIMIT 1
    ) AS preview,
    coalesce((
        SELECT m.direction = 'in' FROM messages m
        WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id
        ORDER BY m.sent_at DESC, m.id DESC
        LIMIT 1
    ), false) AS awaiting_reply,
    coalesce(c.last_message_at, c.created_at) AS last_activity_at,
    c.created_at,
    c.updated_at
FROM conversations c
WHERE c.changed_at IS NOT NULL;
"""


ROUTES_TABLE = """\
CREATE TABLE read_model_routes (
    tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    read_model text NOT NULL,
    relation text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, read_model)
)"""


def _isolated(name: str, tenant_sql: str) -> str:
    return f"EXISTS (SELECT 1 FROM read_model_routes o WHERE o.tenant_id = {tenant_sql} AND o.read_model = '{name}')"


def _routed(name: str, tenant_sql: str, hash_index: int | None = None, tenant_id: int | None = None) -> str:
    if tenant_id is not None:
        return f"({tenant_sql} = {tenant_id} AND {_isolated(name, tenant_sql)})"
    return f"({tenant_sql} % {HASH_SLICES} = {hash_index} AND NOT {_isolated(name, tenant_sql)})"


def _create_slice(name: str, rows: str, relation: str, hash_index: int | None, tenant_id: int | None) -> None:
    if tenant_id is not None:
        query = f"SELECT * FROM {rows} WHERE tenant_id = {tenant_id}"
    else:
        query = (
            f"SELECT r.* FROM tenants t CROSS JOIN LATERAL"
            f" (SELECT * FROM {rows} x WHERE x.tenant_id = t.id OFFSET 0) r"
            f" WHERE {_routed(name, 't.id', hash_index)}"
        )
    indexes = SLICE_INDEXES[name].replace("{slice}", relation)
    # A shared slice holds small tenants: read by index, whatever a generic estimate says (as the refresher).
    seqscan = "on" if tenant_id is not None else "off"
    run_sql_script(
        f"SET LOCAL enable_seqscan = {seqscan}; SET LOCAL jit = {seqscan};\nCREATE MATERIALIZED VIEW {relation} AS {query};\n{indexes}"
    )
    # Created WITH DATA just now: that is its first refresh.
    op.execute(
        "INSERT INTO view_refreshes (view_name, status, started_at, finished_at, as_of, generation) "
        f"VALUES ('{relation}', 'succeeded', now(), now(), now(), nextval('read_model_generations'))"
    )


def upgrade() -> None:
    op.execute(ROUTES_TABLE)
    op.execute("DROP VIEW conversation_summary_live")
    for name, _ in MODELS:
        op.execute(f"DROP MATERIALIZED VIEW {name}")
        op.execute(f"DELETE FROM view_refreshes WHERE view_name = '{name}'")
    for sql in ROWS_SQL.values():
        run_sql_script(sql)
    large = [
        row[0]
        for row in op.get_bind().exec_driver_sql(
            "SELECT tenant_id FROM contacts WHERE deleted_at IS NULL GROUP BY tenant_id "
            f"HAVING count(*) > {OWN_SLICE_CONTACTS} ORDER BY tenant_id"
        )
    ]
    for name, rows in MODELS:
        for tenant_id in large:
            op.execute(
                "INSERT INTO read_model_routes (tenant_id, read_model, relation) "
                f"VALUES ({tenant_id}, '{name}', '{name}_t{tenant_id}')"
            )
        for k in range(HASH_SLICES):
            _create_slice(name, rows, f"{name}_h{k}", k, None)
        for tenant_id in large:
            _create_slice(name, rows, f"{name}_t{tenant_id}", None, tenant_id)
        branches = [f"SELECT * FROM {name}_h{k} s WHERE {_routed(name, 's.tenant_id', k)}" for k in range(HASH_SLICES)]
        branches += [f"SELECT * FROM {name}_t{t} s WHERE {_routed(name, 's.tenant_id', tenant_id=t)}" for t in large]
        op.execute(f"CREATE OR REPLACE VIEW {name} AS\n" + "\nUNION ALL\n".join(branches))
    run_sql_script(CONVERSATION_SUMMARY_LIVE_SQL)


def downgrade() -> None:
    # One materialized view per read model again, as 0011 had them (same definitions and index names).
    op.execute("DROP VIEW conversation_summary_live")
    routes = op.get_bind().exec_driver_sql("SELECT read_model, relation FROM read_model_routes").all()
    for name, _ in MODELS:
        op.execute(f"DROP VIEW {name}")
        relations = [f"{name}_h{k}" for k in range(HASH_SLICES)] + [r for m, r in routes if m == name]
        for relation in relations:
            op.execute(f"DROP MATERIALIZED VIEW {relation}")
            op.execute(f"DELETE FROM view_refreshes WHERE view_name = '{relation}'")
    for name, rows in MODELS:
        if name in ROWS_SQL:
            op.execute(f"DROP VIEW {rows}")
            definition = ROWS_SQL[name].replace(f"CREATE VIEW {rows} AS", f"CREATE MATERIALIZED VIEW {name} AS")
        else:
            definition = f"CREATE MATERIALIZED VIEW {name} AS SELECT * FROM {rows};"
        run_sql_script(definition + "\n" + SLICE_INDEXES[name].replace("{slice}", name))
        op.execute(
            "INSERT INTO view_refreshes (view_name, status, started_at, finished_at, as_of, generation) "
            f"VALUES ('{name}', 'succeeded', now(), now(), now(), nextval('read_model_generations'))"
        )
    run_sql_script(
        CONVERSATION_SUMMARY_LIVE_SQL.replace(
            "WHERE c.changed_at IS NOT NULL;",
            "WHERE c.changed_at >= (SELECT r.as_of FROM view_refreshes r WHERE r.view_name = 'conversation_summaries');",
        )
    )
    op.execute("DROP TABLE read_model_routes")
