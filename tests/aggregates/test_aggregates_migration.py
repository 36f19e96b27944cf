"""The aggregate read models as migrated: 0018 carries frozen copies of their view files, and a later migration
replacing a rows definition its own (today they must be the files); every slice has its unique index and
tenant_id-led indexes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from kith.readmodels.models import COMPANY_MENTIONS_DAILY, COMPANY_STATS, SLICES_MARKER, TAG_STATS, TENANT_DASHBOARD

VERSIONS = Path(__file__).resolve().parents[2] / "db" / "migrations" / "versions"
MIGRATION = VERSIONS / "0018_read_model_slices.py"
AGGREGATES = (COMPANY_STATS, TAG_STATS, COMPANY_MENTIONS_DAILY, TENANT_DASHBOARD)
# The latest migration replacing a rows definition since 0018 (its frozen copy is ROWS: CREATE OR REPLACE VIEW).
REPLACED = {TAG_STATS.name: VERSIONS / "0023_tag_stats_rows_per_contact.py"}


def load_migration(path: Path = MIGRATION):
    spec = importlib.util.spec_from_file_location(f"migration_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("model", AGGREGATES, ids=lambda m: m.name)
def test_frozen_copy_equals_the_view_file(model):
    migration = load_migration()
    rows, indexes = model.sql.split(SLICES_MARKER, 1)
    assert migration.SLICE_INDEXES[model.name] == SLICES_MARKER + indexes
    if model.name in REPLACED:
        statement = rows[rows.index("CREATE VIEW") :].strip()
        assert load_migration(REPLACED[model.name]).ROWS.strip() == statement.replace(
            "CREATE VIEW", "CREATE OR REPLACE VIEW", 1
        )
    else:
        assert migration.ROWS_SQL[model.name] == rows


def test_migration_reads_no_file():
    assert "read_text" not in MIGRATION.read_text() and "VIEWS_DIR" not in MIGRATION.read_text()


async def test_upgraded_database_has_the_slices_and_their_indexes(conn):
    slices = {s.relation for model in AGGREGATES for s in model.hash_slices()}
    views = {r["matviewname"] for r in await conn.fetch("SELECT matviewname FROM pg_matviews")}
    assert slices <= views
    indexes = await conn.fetch("SELECT tablename, indexdef FROM pg_indexes WHERE tablename = ANY($1)", list(slices))
    assert all("(tenant_id" in r["indexdef"] for r in indexes)  # tenant_id leads every index
    assert {r["tablename"] for r in indexes if "UNIQUE" in r["indexdef"]} == slices
    mention_indexes = [
        r["indexdef"] for r in await conn.fetch("SELECT indexdef FROM pg_indexes WHERE tablename = 'mentions'")
    ]
    assert any("gin (tenant_id, companies)" in d for d in mention_indexes)
    assert any("(tenant_id, published_key DESC, id DESC)" in d for d in mention_indexes)
