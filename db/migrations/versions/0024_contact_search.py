"""Search that finds people, and a contact's item shows what imports keep.

contact_cards gains `search_key` (name, nickname, company, emails, phone digits; unaccented and lower-cased
by kith_search_text) with a trigram index in each slice, `company_key` / `tag_keys` (lower-cased) that the
company indexes and the tag index now hold, and the nickname, department, postal addresses and related
names (0011's columns). A follow-up without any interaction yet is due a cadence after the contact's
creation (it was due since '-infinity'), in contact_cards and in tenant_dashboard's due days alike.

Both read models' rows views are made again, and their slices (shared ones, and the own slices
read_model_routes names) with them, each created WITH DATA: that is a refresh.

Frozen copies of db/views/contact_cards.sql and db/views/tenant_dashboard.sql as of this revision, and
of how a slice is made of them (kith.readmodels.models as of this revision).

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from alembic import op

from kith.db.scripts import run_sql_script

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

HASH_SLICES = 8
SLICES_MARKER = "-- The read model's slices"

# unaccent() is STABLE (it reads a dictionary found through search_path); naming the dictionary by its
# schema makes this wrapper safe to declare IMMUTABLE, which an index expression needs.
SEARCH_TEXT_FUNCTION = """
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE FUNCTION kith_search_text(value text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN lower(public.unaccent('public.unaccent'::regdictionary, value));
"""

CONTACT_CARDS_SQL = r"""-- contact_cards: one row per live contact, with what the contact listings sort and filter on.
--
-- `contact_card_rows` is the plain (always current) definition; the slices (materialized
-- views) store it. Listings read the tenant's slice for rows unchanged since
-- its refresh and `contact_card_rows` for the few rows an API write changed since
-- (DESIGN: fresh reads over views), so both must have the same columns. The
-- per-contact LATERAL makes the live read an index look-up per changed contact.
--
-- Sort keys are never NULL, so keyset predicates stay plain row comparisons on
-- an index: never-contacted sorts as '-infinity' (last in "recent first").
-- A follow-up is due a cadence after the last interaction (or the creation).
--
-- `search_key` is what `q` matches a substring of: the name, the nickname, the
-- company, the emails and each phone's digits, one per line (so no match spans two of them),
-- unaccented and lower-cased by kith_search_text (migration 0024: unaccent is
-- only STABLE, and an index needs an IMMUTABLE expression). A trigram index on
-- it answers `LIKE '%…%'` for any part of it.

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
    FROM messages msg
    WHERE msg.tenant_id = c.tenant_id AND msg.contact_id = c.id
) m ON true
WHERE c.deleted_at IS NULL;

-- The read model's slices (kith.readmodels.models): materialized views of contact_card_rows, each holding the
-- rows of some tenants; each gets these indexes, `{slice}` standing for its name.
-- REFRESH ... CONCURRENTLY needs a unique index without a WHERE clause.
CREATE UNIQUE INDEX uq_{slice}_tenant_id ON {slice} (tenant_id, id);
-- One seek index per sort, its order matching the listing's ORDER BY. Each holds the search key too, so
-- a search's walk along the sort (kith.pagination.listing, probing filters) reads the index alone.
CREATE INDEX ix_{slice}_score ON {slice} (tenant_id, score DESC, id DESC) INCLUDE (search_key);
CREATE INDEX ix_{slice}_name ON {slice} (tenant_id, name_key, id) INCLUDE (search_key);
CREATE INDEX ix_{slice}_last_interaction ON {slice} (tenant_id, last_interaction_key DESC, id DESC) INCLUDE (search_key);
CREATE INDEX ix_{slice}_created ON {slice} (tenant_id, created_at DESC, id DESC) INCLUDE (search_key);
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
"""

TENANT_DASHBOARD_SQL = r"""-- tenant_dashboard: one row per tenant with the dashboard's stored numbers.
--
-- What is relative to *now* is not frozen here (DESIGN): the view stores stable keys with their
-- counts, and the dashboard's query compares them with today when it runs:
-- - `birthday_days` / `birthday_counts`: how many live contacts have their birthday on each month-day
--   (`mmdd`, as contact_cards.birthday_mmdd), summed over the coming days in the tenant's time zone;
-- - `follow_up_due_days` / `follow_up_due_counts`: how many contacts fall due on each UTC day
--   (a cadence after the last message or the creation: contact_cards.follow_up_due_key), summed below
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
           ((coalesce(max(msg.sent_at), c.created_at) + make_interval(days => c.cadence_days))
            AT TIME ZONE 'UTC')::date AS day
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

-- The read model's slices (kith.readmodels.models): materialized views of tenant_dashboard_rows, each holding the
-- rows of some tenants; each gets these indexes, `{slice}` standing for its name.
-- Unique, so REFRESH ... CONCURRENTLY works; the dashboard reads its tenant's row through it.
CREATE UNIQUE INDEX uq_{slice}_tenant ON {slice} (tenant_id);
"""


def _routed(name: str, tenant_sql: str, hash_index: int | None = None, tenant_id: int | None = None) -> str:
    isolated = (
        f"EXISTS (SELECT 1 FROM read_model_routes o WHERE o.tenant_id = {tenant_sql} AND o.read_model = '{name}')"
    )
    if tenant_id is not None:
        return f"({tenant_sql} = {tenant_id} AND {isolated})"
    return f"({tenant_sql} % {HASH_SLICES} = {hash_index} AND NOT {isolated})"


def _create_slice(name: str, rows: str, indexes: str, hash_index: int | None, tenant_id: int | None) -> str:
    relation = f"{name}_t{tenant_id}" if tenant_id is not None else f"{name}_h{hash_index}"
    if tenant_id is not None:
        query = f"SELECT * FROM {rows} WHERE tenant_id = {tenant_id}"
    else:
        query = (
            f"SELECT r.* FROM tenants t CROSS JOIN LATERAL"
            f" (SELECT * FROM {rows} x WHERE x.tenant_id = t.id OFFSET 0) r"
            f" WHERE {_routed(name, 't.id', hash_index)}"
        )
    # A shared slice holds small tenants: read by index, whatever a generic estimate says (as the refresher).
    seqscan = "on" if tenant_id is not None else "off"
    run_sql_script(
        f"SET LOCAL enable_seqscan = {seqscan}; SET LOCAL jit = {seqscan};\n"
        f"CREATE MATERIALIZED VIEW {relation} AS {query};\n{indexes.replace('{slice}', relation)}"
    )
    # Created WITH DATA just now: that is a refresh.
    op.execute(
        "UPDATE view_refreshes SET status = 'succeeded', started_at = now(), finished_at = now(), as_of = now(),"
        f" generation = nextval('read_model_generations') WHERE view_name = '{relation}'"
    )
    return relation


def _rebuild(name: str, rows: str, rows_sql: str, indexes: str) -> None:
    """The read model's rows view made again from `rows_sql`, and all its slices with `indexes`."""
    own = [
        row[0]
        for row in op.get_bind().exec_driver_sql(
            f"SELECT tenant_id FROM read_model_routes WHERE read_model = '{name}' ORDER BY tenant_id"
        )
    ]
    op.execute(f"DROP VIEW {name}")
    for relation in [f"{name}_h{k}" for k in range(HASH_SLICES)] + [f"{name}_t{t}" for t in own]:
        op.execute(f"DROP MATERIALIZED VIEW {relation}")
    op.execute(f"DROP VIEW {rows}")
    run_sql_script(rows_sql)
    branches = []
    for k in range(HASH_SLICES):
        relation = _create_slice(name, rows, indexes, k, None)
        branches.append(f"SELECT * FROM {relation} s WHERE {_routed(name, 's.tenant_id', k)}")
    for t in own:
        relation = _create_slice(name, rows, indexes, None, t)
        branches.append(f"SELECT * FROM {relation} s WHERE {_routed(name, 's.tenant_id', tenant_id=t)}")
    op.execute(f"CREATE OR REPLACE VIEW {name} AS\n" + "\nUNION ALL\n".join(branches))


def _split(view_file: str) -> tuple[str, str]:
    at = view_file.index(SLICES_MARKER)
    return view_file[:at], view_file[at:]


def upgrade() -> None:
    run_sql_script(SEARCH_TEXT_FUNCTION)
    _rebuild("contact_cards", "contact_card_rows", *_split(CONTACT_CARDS_SQL))
    _rebuild("tenant_dashboard", "tenant_dashboard_rows", *_split(TENANT_DASHBOARD_SQL))


def _frozen(revision_file: str) -> Any:
    path = Path(__file__).with_name(revision_file)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def downgrade() -> None:
    # 0002's contact_card_rows and 0018's tenant_dashboard_rows, with 0018's slice indexes.
    slices = _frozen("0018_read_model_slices.py")
    contact_card_rows = _frozen("0002_contact_cards.py").CONTACT_CARDS_SQL
    contact_card_rows = contact_card_rows[: contact_card_rows.index("CREATE MATERIALIZED VIEW contact_cards")]
    _rebuild("contact_cards", "contact_card_rows", contact_card_rows, slices.SLICE_INDEXES["contact_cards"])
    _rebuild(
        "tenant_dashboard",
        "tenant_dashboard_rows",
        slices.ROWS_SQL["tenant_dashboard"],
        slices.SLICE_INDEXES["tenant_dashboard"],
    )
    op.execute("DROP FUNCTION kith_search_text(text)")
