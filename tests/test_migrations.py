"""Migrations never read db/views: each carries a frozen copy of its view SQL. This proves the frozen
copies and the current db/views files cannot drift: `alembic upgrade head` on an empty database gives the
same view definitions and indexes as dropping every view and applying every db/views/*.sql file (a read
model's file through kith.readmodels.models, which makes its slices of it)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

import asyncpg

from kith.db.migrations import upgrade_async
from kith.db.paths import MIGRATIONS_DIR, VIEWS_DIR
from kith.db.urls import asyncpg_dsn
from kith.readmodels.models import CONTACT_CARDS, READ_MODELS, SLICES_MARKER, STATISTICS_MARKER

VIEWS_AND_INDEXES = """
SELECT c.relname AS name, c.relkind::text AS kind, pg_get_viewdef(c.oid) AS definition,
       coalesce((SELECT array_agg(i.indexdef ORDER BY i.indexname) FROM pg_indexes i
                 WHERE i.schemaname = 'public' AND i.tablename = c.relname), '{}') AS indexes
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm')
ORDER BY c.relname
"""


async def _views(conn: asyncpg.Connection) -> dict[str, tuple]:
    return {r["name"]: (r["kind"], r["definition"], r["indexes"]) for r in await conn.fetch(VIEWS_AND_INDEXES)}


async def _drop_all_views(conn: asyncpg.Connection) -> None:
    for row in await conn.fetch(VIEWS_AND_INDEXES):
        kind = "MATERIALIZED VIEW" if row["kind"] == "m" else "VIEW"
        await conn.execute(f'DROP {kind} IF EXISTS "{row["name"]}" CASCADE')


def _view_scripts() -> list[tuple[str, str]]:
    """What the db/views files make: a read model's file its rows' view, then its slices (as
    kith.readmodels.models makes them, `{slice}` in its indexes standing for each) and the plain view over
    them; any other file is applied as it is."""
    by_file = {model.name: model for model in READ_MODELS}
    scripts = []
    for path in sorted(VIEWS_DIR.glob("*.sql")):
        model = by_file.get(path.stem)
        if model is None:
            scripts.append((path.name, path.read_text()))
            continue
        rows = path.read_text().split(SLICES_MARKER, 1)[0]
        slices = "\n".join(target.create_sql() for target in model.hash_slices())
        scripts.append((path.name, f"{rows}\n{slices}\n{model.union_sql(())};"))
    assert scripts, f"no view files in {VIEWS_DIR}"
    return scripts


async def _apply_view_files(conn: asyncpg.Connection) -> None:
    """Every db/views file, each in a transaction; one that needs a view not created yet waits for the next round."""
    pending = _view_scripts()
    while pending:
        failed: list = []
        errors: list[str] = []
        for name, script in pending:
            try:
                async with conn.transaction():
                    await conn.execute(script)
            except asyncpg.UndefinedTableError as exc:
                failed.append((name, script))
                errors.append(f"{name}: {exc}")
        assert len(failed) < len(pending), f"view files that can never apply: {errors}"
        pending = failed


async def test_upgrade_head_gives_the_views_of_the_view_files(create_database: Callable) -> None:
    url = await create_database("kith_migrations")
    await upgrade_async(url)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        migrated = await _views(conn)
        await _drop_all_views(conn)
        assert await _views(conn) == {}
        await _apply_view_files(conn)
        from_files = await _views(conn)
    finally:
        await conn.close()
    assert migrated, "upgrade head created no view"
    assert set(from_files) == set(migrated)
    for name, state in from_files.items():
        assert migrated[name] == state, f"{name}: the migrations and the db/views files differ"


def test_the_latest_statistics_copy_is_the_view_files_section() -> None:
    """What runs after each refresh of a contact_cards slice (the last section of its view file) is what the
    latest migration carrying the section ran for the slices it found."""
    carriers = [
        path for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")) if "STATISTICS_SQL" in path.read_text()
    ]
    spec = importlib.util.spec_from_file_location("latest_statistics", carriers[-1])
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    view_file = CONTACT_CARDS.sql
    assert view_file[view_file.index(STATISTICS_MARKER) :] == migration.STATISTICS_SQL
