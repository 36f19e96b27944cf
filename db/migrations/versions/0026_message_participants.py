"""Every person a message is with: message_participants, and what reads it.

An imported mail is with more than one person: a message the user sent To and Cc two people, one received
from X with Y in Cc. `messages.contact_id` stays the one contact a message is with (the first recipient of
a message sent, the sender of one received: the conversation's contact); `message_participants` holds each
of the others once (never the message's own contact), with the message's time and direction, so
a contact's interactions are read from an index on its own rows (the primary key, tenant_id first).

- contact_card_rows counts both for a contact's last interaction and its 30/90-day counts, tag_stats_rows
  and company_stats_rows for their contacts' activity, tenant_dashboard_rows for its follow-up due days (as
  contact_cards has them). Their columns are unchanged: the views are replaced, and their slices keep their
  contents until their next refresh;
- contact_messages, a plain view, is each message once for every contact it is with: the timeline's rows.

No foreign key to messages or contacts: a cascade would look rows up by message_id or contact_id alone
(no index leads with them but tenant_id's), as migration 0003 says of sync_run_contacts. The writers that
delete messages delete their participants in the same statement (kith.connectors.queries), on
(tenant_id, message_id); readers join messages and contacts.

Frozen copies of the rows definitions of db/views/contact_cards.sql, tag_stats.sql, company_stats.sql and
tenant_dashboard.sql, and of db/views/contact_messages.sql
(tests/test_migrations.py proves they agree with the files).

Revision ID: 0026
Revises: 0025
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import op

from kith.db.scripts import run_sql_script

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

SLICES_MARKER = "-- The read model's slices"

# Each rows view as its db/views file has it, up to its slices (CREATE OR REPLACE: its columns are the same).
ROWS_SQL = {
    "contact_card_rows": r"""-- contact_cards: one row per live contact, with what the contact listings sort and filter on.
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
-- it answers `LIKE '%…%'` for any part of it.

CREATE OR REPLACE VIEW contact_card_rows AS
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
    kith_search_text(concat_ws(E'\n',
        c.full_name, c.nickname, c.company, array_to_string(c.emails, E'\n'),
        regexp_replace(array_to_string(c.phones, E'\n'), '[^0-9\n]', '', 'g')
    )) AS search_key
FROM contacts c
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

""",
    "tag_stats_rows": r"""-- tag_stats: one row per tag on a tenant's live contacts (a tag on no live contact is in no row),
-- with what GET /tags sorts on. `name` (C collation) is unique per tenant and ends every sort key.
-- A contact carrying a tag twice counts once. A contact's messages are those it is the contact of and
-- those it is one more participant of (message_participants, migration 0026), as in contact_cards.

CREATE OR REPLACE VIEW tag_stats_rows AS
WITH activity AS (
    SELECT msg.tenant_id, msg.contact_id, count(*) AS messages_30d
    FROM (
        SELECT m.tenant_id, m.contact_id, m.sent_at FROM messages m WHERE m.contact_id IS NOT NULL
        UNION ALL
        SELECT p.tenant_id, p.contact_id, p.sent_at FROM message_participants p
    ) msg
    WHERE msg.sent_at >= now() - interval '30 days'
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

""",
    "company_stats_rows": r"""-- company_stats: one row per company of a tenant's live contacts (contacts whose company is NULL are
-- in no row), with what GET /companies sorts and filters on.
--
-- `name` is the company as written on the contacts, in C collation so its order is the same on every
-- server; it is unique per tenant and ends every sort key. `recent_activity` is messages with the
-- company's contacts plus news mentions of it, both in the last 30 days. Sort keys are never NULL.
-- A contact's messages are those it is the contact of and those it is one more participant of
-- (message_participants, migration 0026), as in contact_cards.

CREATE OR REPLACE VIEW company_stats_rows AS
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

""",
    "tenant_dashboard_rows": r"""-- tenant_dashboard: one row per tenant with the dashboard's stored numbers.
--
-- What is relative to *now* is not frozen here (DESIGN): the view stores stable keys with their
-- counts, and the dashboard's query compares them with today when it runs:
-- - `birthday_days` / `birthday_counts`: how many live contacts have their birthday on each month-day
--   (`mmdd`, as contact_cards.birthday_mmdd), summed over the coming days in the tenant's time zone;
-- - `follow_up_due_days` / `follow_up_due_counts`: how many contacts fall due on each UTC day
--   (a cadence after the last message or the creation: contact_cards.follow_up_due_key), summed below
--   today, plus the few falling due earlier today, read on contact_cards' follow-up index.
-- Message counts are as of the refresh. A conversation awaits a reply when its latest message came in.

CREATE OR REPLACE VIEW tenant_dashboard_rows AS
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
           ((coalesce(last.sent_at, c.created_at) + make_interval(days => c.cadence_days))
            AT TIME ZONE 'UTC')::date AS day
    FROM contacts c
    -- The contact's last interaction as contact_cards has it: messages it is the contact of or one more
    -- participant of (message_participants, migration 0026).
    LEFT JOIN LATERAL (
        SELECT max(x.sent_at) AS sent_at FROM (
            SELECT msg.sent_at FROM messages msg WHERE msg.tenant_id = c.tenant_id AND msg.contact_id = c.id
            UNION ALL
            SELECT p.sent_at FROM message_participants p WHERE p.tenant_id = c.tenant_id AND p.contact_id = c.id
        ) x
    ) last ON true
    WHERE c.deleted_at IS NULL AND c.cadence_days IS NOT NULL
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

CONTACT_MESSAGES_SQL = r"""-- contact_messages: each message once for every contact it is with, the rows a contact's timeline
-- (GET /contacts/{id}/timeline) reads: its contact (messages.contact_id) and each of its other
-- participants (message_participants: the others in To/Cc of an imported mail). `with_contact_id` is
-- the contact whose timeline the row is on; `contact_id` stays the message's own.
--
-- Both branches read one table, so a timeline filtered on with_contact_id reads each in (sent_at, id)
-- order from its index (ix_messages_tenant_contact_sent_id, message_participants' primary key) and
-- merges the two. A participant's row (`participant`) holds the message's key, time and direction
-- only: the listing reads the rest of its page's such rows by id (kith.conversations.listings).

CREATE VIEW contact_messages AS
SELECT m.tenant_id, m.contact_id AS with_contact_id, m.id, m.conversation_id, m.contact_id, m.channel,
       m.direction, m.sent_at, m.subject, m.body, false AS participant
FROM messages m
UNION ALL
SELECT p.tenant_id, p.contact_id AS with_contact_id, p.message_id AS id, NULL::bigint AS conversation_id,
       NULL::bigint AS contact_id, NULL::text AS channel, p.direction, p.sent_at, NULL::text AS subject,
       NULL::text AS body, true AS participant
FROM message_participants p;
"""


def upgrade() -> None:
    op.create_table(
        "message_participants",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("contact_id", sa.BigInteger(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("direction", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_message_participants_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.CheckConstraint("direction IN ('in', 'out')", name=op.f("ck_message_participants_direction_in_out")),
        # A contact's timeline and interactions, keyset on (sent_at, message_id).
        sa.PrimaryKeyConstraint(
            "tenant_id", "contact_id", "sent_at", "message_id", name=op.f("pk_message_participants")
        ),
    )
    # A message's participants: what a writer deleting messages deletes with them.
    op.create_index("ix_message_participants_tenant_message", "message_participants", ["tenant_id", "message_id"])
    for rows_sql in ROWS_SQL.values():
        run_sql_script(rows_sql)
    run_sql_script(CONTACT_MESSAGES_SQL)


def _frozen(revision_file: str) -> Any:
    path = Path(__file__).with_name(revision_file)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _replacing(view_sql: str, rows: str) -> str:
    """The rows view of a frozen view file, as CREATE OR REPLACE (its columns are the same)."""
    view_sql = view_sql.split(SLICES_MARKER, 1)[0]
    return view_sql.replace(f"CREATE VIEW {rows} AS", f"CREATE OR REPLACE VIEW {rows} AS")


def downgrade() -> None:
    op.execute("DROP VIEW contact_messages")
    # The rows views as they were: 0024's contact_card_rows and tenant_dashboard_rows, 0023's tag_stats_rows,
    # 0018's company_stats_rows (same columns).
    at_0024 = _frozen("0024_contact_search.py")
    run_sql_script(_replacing(at_0024.CONTACT_CARDS_SQL, "contact_card_rows"))
    run_sql_script(_replacing(at_0024.TENANT_DASHBOARD_SQL, "tenant_dashboard_rows"))
    run_sql_script(_frozen("0023_tag_stats_rows_per_contact.py").ROWS)
    run_sql_script(_replacing(_frozen("0018_read_model_slices.py").ROWS_SQL["company_stats"], "company_stats_rows"))
    op.drop_table("message_participants")
