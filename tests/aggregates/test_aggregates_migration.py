"""Migration 0007 carries frozen copies of the aggregate view files: today they must be the files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from kith.readmodels.models import read_model_named

MIGRATION = Path(__file__).resolve().parents[2] / "db" / "migrations" / "versions" / "0007_aggregates.py"


def load_migration():
    spec = importlib.util.spec_from_file_location("migration_0007", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["company_stats", "tag_stats", "company_mentions_daily", "tenant_dashboard"])
def test_frozen_copy_equals_the_view_file(name):
    migration = load_migration()
    assert migration.VIEWS[name] == read_model_named(name).sql  # declared: refreshed after imports, on the schedule


def test_migration_reads_no_file():
    assert "VIEWS_DIR" not in MIGRATION.read_text() and "read_text" not in MIGRATION.read_text()


async def test_upgraded_database_has_the_views_and_their_indexes(conn):
    views = {r["matviewname"] for r in await conn.fetch("SELECT matviewname FROM pg_matviews")}
    assert {"company_stats", "tag_stats", "company_mentions_daily", "tenant_dashboard"} <= views
    indexes = await conn.fetch(
        "SELECT tablename, indexdef FROM pg_indexes WHERE tablename IN "
        "('company_stats', 'tag_stats', 'company_mentions_daily', 'tenant_dashboard')"
    )
    assert all("(tenant_id" in r["indexdef"] for r in indexes)  # tenant_id leads every index
    unique = {r["tablename"] for r in indexes if "UNIQUE" in r["indexdef"]}
    assert unique == {"company_stats", "tag_stats", "company_mentions_daily", "tenant_dashboard"}
    mention_indexes = [
        r["indexdef"] for r in await conn.fetch("SELECT indexdef FROM pg_indexes WHERE tablename = 'mentions'")
    ]
    assert any("gin (tenant_id, companies)" in d for d in mention_indexes)
    assert any("(tenant_id, published_key DESC, id DESC)" in d for d in mention_indexes)
