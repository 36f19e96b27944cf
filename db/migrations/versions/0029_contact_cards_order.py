"""The contact cards' slices are written in company order: a search's matches of a company sit on few pages.

A search (`q`) for a company on 0.2–0.3% of 1,000,000 contacts found its 2,000–3,000 matches on 2,000–2,900 of
the slice's pages, one heap page each, and the trigram index's lists of them were as scattered. Written in the
order of (company_key, name_key) after the tenant, the same matches sit on 126–195 pages, and the index's
lists and the rows read in half the time (kith.readmodels.models: ReadModel.physical_order; docs/benchmarks.md).

Each contact_cards slice (shared, and every tenant's own) is made again with `ORDER BY`, with its indexes and
the search's statistics (0028's copy), and recorded as refreshed now. On a tenant of 1,000,000 contacts that is
a refresh's time (about two minutes). The downgrade makes them again without the order.

Frozen copy of the slices' part of db/views/contact_cards.sql.

Revision ID: 0029
Revises: 0028
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from alembic import op

from kith.db.scripts import run_sql_script

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

HASH_SLICES = 8
ORDER = ("company_key", "name_key")

SLICE_INDEXES = r"""-- The read model's slices (kith.readmodels.models): materialized views of contact_card_rows, each holding the
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


def _routed(tenant_sql: str, hash_index: int | None = None, tenant_id: int | None = None) -> str:
    isolated = (
        f"EXISTS (SELECT 1 FROM read_model_routes o WHERE o.tenant_id = {tenant_sql}"
        " AND o.read_model = 'contact_cards')"
    )
    if tenant_id is not None:
        return f"({tenant_sql} = {tenant_id} AND {isolated})"
    return f"({tenant_sql} % {HASH_SLICES} = {hash_index} AND NOT {isolated})"


def _frozen(revision_file: str) -> Any:
    path = Path(__file__).with_name(revision_file)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# What runs after each refresh of a slice: 0028's copy, unchanged.
STATISTICS_SQL = _frozen("0028_search_keys.py").STATISTICS_SQL


def _slices() -> list[tuple[str, int | None, int | None]]:
    """Every contact_cards slice: (relation, hash index, tenant of its own)."""
    own = [
        row[0]
        for row in op.get_bind().exec_driver_sql(
            "SELECT tenant_id FROM read_model_routes WHERE read_model = 'contact_cards' ORDER BY tenant_id"
        )
    ]
    return [(f"contact_cards_h{k}", k, None) for k in range(HASH_SLICES)] + [
        (f"contact_cards_t{t}", None, t) for t in own
    ]


def _drop_slices(slices: list[tuple[str, int | None, int | None]]) -> None:
    op.execute("DROP VIEW contact_cards")
    for relation, _, _ in slices:
        op.execute(f"DROP MATERIALIZED VIEW {relation}")


def _create_slices(slices: list[tuple[str, int | None, int | None]], indexes: str, ordered: bool) -> None:
    """Each slice WITH DATA (recorded as refreshed now, with the search's statistics), then the view over them.
    Migration 0031 makes the slices again with these, with its own indexes."""
    branches = []
    for relation, hash_index, tenant_id in slices:
        if tenant_id is not None:
            query = f"SELECT * FROM contact_card_rows WHERE tenant_id = {tenant_id}"
            query += f" ORDER BY {', '.join(ORDER)}" if ordered else ""
        else:
            query = (
                "SELECT r.* FROM tenants t CROSS JOIN LATERAL"
                " (SELECT * FROM contact_card_rows x WHERE x.tenant_id = t.id OFFSET 0) r"
                f" WHERE {_routed('t.id', hash_index)}"
            )
            query += f" ORDER BY {', '.join(f'r.{c}' for c in ('tenant_id', *ORDER))}" if ordered else ""
        # A shared slice holds small tenants: read by index, whatever a generic estimate says (as the refresher).
        seqscan = "on" if tenant_id is not None else "off"
        run_sql_script(
            f"SET LOCAL enable_seqscan = {seqscan}; SET LOCAL jit = off;\n"
            f"CREATE MATERIALIZED VIEW {relation} AS {query};\n{indexes.replace('{slice}', relation)}"
        )
        # Created WITH DATA just now: that is a refresh.
        op.execute(
            "UPDATE view_refreshes SET status = 'succeeded', started_at = now(), finished_at = now(),"
            f" as_of = now(), generation = nextval('read_model_generations') WHERE view_name = '{relation}'"
        )
        run_sql_script(STATISTICS_SQL.replace("{slice}", relation))
        branches.append(f"SELECT * FROM {relation} s WHERE {_routed('s.tenant_id', hash_index, tenant_id)}")
    op.execute("CREATE OR REPLACE VIEW contact_cards AS\n" + "\nUNION ALL\n".join(branches))


def upgrade() -> None:
    slices = _slices()
    _drop_slices(slices)
    _create_slices(slices, SLICE_INDEXES, ordered=True)


def downgrade() -> None:
    slices = _slices()
    _drop_slices(slices)
    _create_slices(slices, SLICE_INDEXES, ordered=False)
