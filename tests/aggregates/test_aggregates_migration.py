"""The aggregate read models as migrated: 0018 carries frozen copies of their view files, and a later migration
replacing a rows definition or a whole view file its own (today they must be the files: 0026 replaced the rows
of tag_stats, company_stats and tenant_dashboard); every slice has its unique index and tenant_id-led indexes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from kith.readmodels.models import (
    COMPANY_MENTIONS_DAILY,
    COMPANY_STATS,
    SLICES_MARKER,
    TAG_STATS,
    TENANT_DASHBOARD,
    TENANT_MESSAGES_DAILY,
)

VERSIONS = Path(__file__).resolve().parents[2] / "db" / "migrations" / "versions"
SLICES, SEARCH, MESSAGES_DAILY = "0018_read_model_slices.py", "0024_contact_search.py", "0025_tenant_messages_daily.py"
# Replaced the rows views of tag_stats, company_stats and tenant_dashboard (its ROWS_SQL: CREATE OR REPLACE VIEW
# of the file up to its slices, whose indexes stay those of the migration before).
PARTICIPANTS = "0026_message_participants.py"
AGGREGATES = (COMPANY_STATS, TAG_STATS, COMPANY_MENTIONS_DAILY, TENANT_DASHBOARD, TENANT_MESSAGES_DAILY)
# The latest migration replacing a rows definition since 0018 (its frozen copy is ROWS: CREATE OR REPLACE VIEW).
REPLACED = {TAG_STATS.name: "0023_tag_stats_rows_per_contact.py"}


def load_migration(file: str):
    spec = importlib.util.spec_from_file_location(f"migration_{file.removesuffix('.py')}", VERSIONS / file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def frozen_copy(name: str) -> str:
    """The view file as the latest migrations that make the read model have it."""
    if name in ("tag_stats", "company_stats", "tenant_dashboard"):
        rows = load_migration(PARTICIPANTS).ROWS_SQL[f"{name}_rows"].replace("CREATE OR REPLACE VIEW", "CREATE VIEW", 1)
        if name == "tenant_dashboard":
            indexes = load_migration(SEARCH).TENANT_DASHBOARD_SQL.split(SLICES_MARKER, 1)[1]
            return rows + SLICES_MARKER + indexes
        return rows + load_migration(SLICES).SLICE_INDEXES[name]
    if name == "tenant_dashboard":
        return load_migration(SEARCH).TENANT_DASHBOARD_SQL
    if name == "tenant_messages_daily":
        return load_migration(MESSAGES_DAILY).TENANT_MESSAGES_DAILY_SQL
    slices = load_migration(SLICES)
    rows = slices.ROWS_SQL[name]
    if name in REPLACED:  # the file's comments, then the replaced statement as a CREATE VIEW
        replaced = load_migration(REPLACED[name]).ROWS.strip().replace("CREATE OR REPLACE VIEW", "CREATE VIEW", 1)
        rows = rows[: rows.index("CREATE VIEW")] + replaced + "\n\n"
    return rows + slices.SLICE_INDEXES[name]


@pytest.mark.parametrize("model", AGGREGATES, ids=lambda m: m.name)
def test_frozen_copy_equals_the_view_file(model):
    rows, indexes = model.sql.split(SLICES_MARKER, 1)
    assert frozen_copy(model.name) == rows + SLICES_MARKER + indexes


@pytest.mark.parametrize("file", [SLICES, SEARCH, MESSAGES_DAILY, PARTICIPANTS, *REPLACED.values()])
def test_migration_reads_no_file(file):
    text = (VERSIONS / file).read_text()
    assert "read_text" not in text and "VIEWS_DIR" not in text


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
