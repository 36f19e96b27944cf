"""Search bits: a walk skips a row missing one of the query's trigrams before testing its key.

A search that walks the sort's index (kith.contacts.listings) tests each row's search key with `strpos`:
0.13 µs a row of the walk's 0.3, on 1,000,000 contacts. `search_bits` holds a bit for each trigram of letters
a–z and digits in the key (64 bits, each trigram's by a fixed arithmetic of its characters, never a server's
hash that an upgrade could change), and each sort index holds it beside the key. A key holding the query
holds each such trigram of the query's runs of letters and digits, so a row without one of its bits cannot
match; `strpos` then tests the few rows left (0.03 µs a row for the bits).

- `kith_search_bits(key)`: the key's bits (from pg_trgm's show_trgm, its trigrams of [a-z0-9] only);
- `kith_search_query_bits(needle)`: the bits every key holding `needle` has (the trigrams of [a-z0-9] inside
  its runs of letters and digits); PL/pgSQL, so its statement is planned once a connection;
- contact_card_rows gains `search_bits`, and each contact_cards slice is made again (in company order, as
  0029, with the search's statistics of 0028) with the bits in its sort indexes. The downgrade makes the
  rows view and the slices as 0029 left them.

Frozen copy of db/views/contact_cards.sql, up to its statistics section.

Revision ID: 0031
Revises: 0030
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from alembic import op

from kith.db.scripts import run_sql_script

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

FUNCTIONS = r"""
CREATE FUNCTION kith_search_bits(key text) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN (
    SELECT coalesce(bit_or(1::bigint << ((ascii(t) * 1369 + ascii(substr(t, 2, 1)) * 37 + ascii(substr(t, 3, 1))) % 64)), 0)
    FROM unnest(show_trgm(key)) AS t
    WHERE t ~ '^[a-z0-9]{3}$'
    );

CREATE FUNCTION kith_search_query_bits(needle text) RETURNS bigint
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$ BEGIN RETURN (
    SELECT coalesce(bit_or(1::bigint << ((ascii(t) * 1369 + ascii(substr(t, 2, 1)) * 37 + ascii(substr(t, 3, 1))) % 64)), 0)
    FROM regexp_matches(needle, '[[:alnum:]]{3,}', 'g') AS w(m)
    CROSS JOIN LATERAL generate_series(1, length(w.m[1]) - 2) AS g(i)
    CROSS JOIN LATERAL (SELECT substr(w.m[1], g.i, 3) AS t) AS trigram
    WHERE t ~ '^[a-z0-9]{3}$'
    ); END $$;
"""

ROWS_SQL = r"""-- contact_cards: one row per live contact, with what the contact listings sort and filter on.
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
"""

SLICE_INDEXES = r"""-- The read model's slices (kith.readmodels.models): materialized views of contact_card_rows, each holding the
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
"""


def _frozen(revision_file: str) -> Any:
    path = Path(__file__).with_name(revision_file)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# 0029 makes the slices (in company order, with the search's statistics): here with the bits in the indexes.
AT_0029 = _frozen("0029_contact_cards_order.py")


def upgrade() -> None:
    run_sql_script(FUNCTIONS)
    slices = AT_0029._slices()
    AT_0029._drop_slices(slices)
    run_sql_script(ROWS_SQL)
    AT_0029._create_slices(slices, SLICE_INDEXES, ordered=True)


def downgrade() -> None:
    slices = AT_0029._slices()
    AT_0029._drop_slices(slices)
    op.execute("DROP VIEW contact_card_rows")
    rows_0026 = _frozen("0026_message_participants.py").ROWS_SQL["contact_card_rows"]
    run_sql_script(rows_0026.split("-- The read model's slices", 1)[0])
    AT_0029._create_slices(slices, AT_0029.SLICE_INDEXES, ordered=True)
    op.execute("DROP FUNCTION kith_search_query_bits(text)")
    op.execute("DROP FUNCTION kith_search_bits(text)")
