"""A week of the CLI: --version, tenant list / delete / set-time-zone, time zones refused with the closest names,
token list / revoke / rotate without the ORM, `import --since` / `--days-back` with record errors shown, a wrong
file refused before any database starts, and no empty database created where a command needs existing data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import asyncpg
import pytest
from tests.cli.test_cli import HEAVY_MODULES, REPO, kith, one_line_error

from kith.db.urls import asyncpg_dsn


def kith_without_database(*args: str, data_dir: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "KITH_DATA_DIR": str(data_dir)}
    for name in ("DATABASE_URL", "TEST_DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "kith", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_version(tmp_path: Path) -> None:
    result = kith_without_database("--version", data_dir=tmp_path / "data", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout == f"kith {version('kith')}\n"


async def test_tenant_list_set_time_zone_and_delete(db: str, tmp_path: Path) -> None:
    acme = kith("tenant", "create", "acme", "--time-zone", "europe/paris", db=db, data_dir=tmp_path).stdout.strip()
    kith("tenant", "create", "zeta", db=db, data_dir=tmp_path)
    kith("token", "create", "--tenant", "acme", db=db, data_dir=tmp_path)

    listed = kith("tenant", "list", db=db, data_dir=tmp_path)
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (rows[0]["id"], rows[0]["name"], rows[0]["time_zone"]) == (int(acme), "acme", "Europe/Paris")
    assert [r["name"] for r in rows] == ["acme", "zeta"]

    moved = kith("tenant", "set-time-zone", "acme", "America/New_York", db=db, data_dir=tmp_path)
    assert moved.returncode == 0 and moved.stdout.strip() == acme
    unknown = kith("tenant", "set-time-zone", "acme", "Europe/Pariss", db=db, data_dir=tmp_path)
    assert "did you mean Europe/Paris" in one_line_error(unknown)

    refused = kith("tenant", "delete", "acme", db=db, data_dir=tmp_path)  # no --yes, no terminal: nothing deleted
    assert refused.returncode != 0
    deleted = kith("tenant", "delete", "acme", "--yes", db=db, data_dir=tmp_path)
    assert deleted.returncode == 0 and deleted.stdout.strip() == acme
    conn = await asyncpg.connect(asyncpg_dsn(db))
    try:
        assert await conn.fetch("SELECT name, time_zone FROM tenants") == [("zeta", "UTC")]
        assert await conn.fetchval("SELECT count(*) FROM api_tokens") == 0
    finally:
        await conn.close()
    assert "no tenant named 'acme'" in one_line_error(
        kith("tenant", "delete", "acme", "--yes", db=db, data_dir=tmp_path)
    )


@pytest.mark.parametrize(("given", "suggested"), [("Europe/Pari", "Europe/Paris"), ("Paris", "Europe/Paris")])
async def test_an_unknown_time_zone_is_refused_with_the_closest_names(
    db: str, tmp_path: Path, given: str, suggested: str
) -> None:
    result = kith("tenant", "create", "acme", "--time-zone", given, db=db, data_dir=tmp_path)
    error = one_line_error(result) if result.stdout == "" else pytest.fail(result.stdout)
    assert f"'{given}' is not a time zone; did you mean" in error and suggested in error
    conn = await asyncpg.connect(asyncpg_dsn(db))
    try:
        assert await conn.fetchval("SELECT count(*) FROM tenants") == 0
    finally:
        await conn.close()


async def test_token_list_revoke_rotate_use_no_orm(db: str, tmp_path: Path) -> None:
    kith("tenant", "create", "acme", db=db, data_dir=tmp_path)
    kith("token", "create", "--tenant", "acme", "--name", "ci", "--expires-in", "10", db=db, data_dir=tmp_path)
    env = {**os.environ, "DATABASE_URL": db, "KITH_DATA_DIR": str(tmp_path)}

    def timed(*args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "kith", *args], env=env, capture_output=True, text=True
        )
        imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "import time:" in line}
        heavy = {m for m in imported if m.split(".")[0] in HEAVY_MODULES or m in HEAVY_MODULES}
        assert heavy == set(), args
        return done, imported

    listed, _ = timed("token", "list", "--tenant", "acme")
    [token] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (token["name"], token["revoked_at"]) == ("ci", None)
    rotated, _ = timed("token", "rotate", str(token["id"]))
    assert rotated.returncode == 0 and rotated.stdout.startswith("kith_")
    listed, _ = timed("token", "list", "--tenant", "acme")
    old, new = [json.loads(line) for line in listed.stdout.splitlines()]
    assert old["revoked_at"] is not None and new["revoked_at"] is None and new["name"] == "ci"
    assert new["expires_at"] is not None
    revoked, _ = timed("token", "revoke", str(new["id"]))
    assert revoked.returncode == 0 and revoked.stdout.strip() == str(new["id"])
    again, _ = timed("token", "rotate", str(new["id"]))
    assert again.returncode != 0 and f"no live token with id {new['id']}" in again.stderr


async def test_import_since_days_back_and_record_errors(db: str, tmp_path: Path) -> None:
    kith("tenant", "create", "acme", db=db, data_dir=tmp_path)
    mbox = "tests/data/takeout.mbox"

    rfc3339 = kith("import", "--tenant", "acme", "--source", "mbox", mbox, "--since", "2024-03-05T00:00:00Z",
                   "--me", "me@gmail.com", db=db, data_dir=tmp_path)  # fmt: skip
    assert rfc3339.returncode == 0, rfc3339.stderr
    assert "3 inserted" in rfc3339.stderr and "skipped: 3 before since, 1 spam or draft" in rfc3339.stderr

    days_back = kith("import", "--tenant", "acme", "--source", "mbox", mbox, "--days-back", "3650",
                     "--me", "me@gmail.com", db=db, data_dir=tmp_path)  # fmt: skip
    assert days_back.returncode == 0, days_back.stderr
    both = kith("import", "--tenant", "acme", "--source", "mbox", mbox, "--days-back", "3", "--since", "2024-01-01",
                db=db, data_dir=tmp_path)  # fmt: skip
    assert both.returncode != 0 and "either --since or --days-back" in both.stderr

    cards = tmp_path / "bad.vcf"
    cards.write_text(
        "BEGIN:VCARD\nFN:Good\nEND:VCARD\n"
        + "".join(f"BEGIN:VCARD\nTEL:+1 555 01{i:02d}\nEND:VCARD\n" for i in range(7))
    )
    errors = kith("import", "--tenant", "acme", "--source", "vcard", str(cards), db=db, data_dir=tmp_path)
    assert errors.returncode == 0, errors.stderr
    lines = errors.stderr.splitlines()
    assert "1 inserted" in errors.stderr and "7 failed" in errors.stderr
    shown = [line for line in lines if line.startswith("  record ")]
    assert len(shown) == 5 and shown[0].startswith("  record 1: card has no name")
    assert "… and 2 more record errors" in errors.stderr


def test_a_wrong_file_is_refused_before_any_database_starts(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    result = kith_without_database(
        "import", "--tenant", "acme", "--source", "vcard", str(REPO / "tests/data/takeout.mbox"),
        data_dir=data_dir, cwd=tmp_path,
    )  # fmt: skip
    assert "is not a valid vcard file" in one_line_error(result)
    assert not (data_dir / "pg").exists()


@pytest.mark.parametrize(
    "args",
    [["token", "create", "--tenant", "acme"], ["token", "list", "--tenant", "acme"], ["tenant", "list"], ["refresh"]],
)
def test_no_empty_database_where_existing_data_is_needed(tmp_path: Path, args: list[str]) -> None:
    data_dir = tmp_path / "nowhere"
    result = kith_without_database(*args, data_dir=data_dir, cwd=tmp_path)
    error = one_line_error(result)
    assert "no Kith database" in error and str(data_dir) in error and str(tmp_path) in error
    assert not (data_dir / "pg").exists()
