"""The `kith` command as a user runs it (a subprocess): it refuses what it cannot do, in one line, before any work."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from kith.config import find_data_dir, user_data_dir
from kith.db.urls import asyncpg_dsn

REPO = Path(__file__).resolve().parents[2]


def kith(*args: str, db: str, data_dir: Path, cwd: Path = REPO, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": db, "KITH_DATA_DIR": str(data_dir)}
    env.pop("REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "kith", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("kith: error: ")
    return lines[0]


async def tenant_names(db: str) -> list[str]:
    conn = await asyncpg.connect(asyncpg_dsn(db))
    try:
        return [row["name"] for row in await conn.fetch("SELECT name FROM tenants ORDER BY name")]
    finally:
        await conn.close()


async def test_token_create_refuses_an_unknown_tenant(db: str, tmp_path: Path) -> None:
    result = kith("token", "create", "--tenant", "nosuch", db=db, data_dir=tmp_path)

    assert "no tenant named 'nosuch'" in one_line_error(result)
    assert "kith tenant create nosuch" in result.stderr
    assert await tenant_names(db) == []


async def test_import_refuses_an_unknown_tenant(db: str, tmp_path: Path) -> None:
    result = kith(
        "import", "--tenant", "nosuch", "--source", "vcard", "tests/data/contacts.vcf", db=db, data_dir=tmp_path
    )

    assert "kith tenant create nosuch" in one_line_error(result)
    assert await tenant_names(db) == []


async def test_tenant_create_is_idempotent_and_tokens_need_it(db: str, tmp_path: Path) -> None:
    first = kith("tenant", "create", "acme", db=db, data_dir=tmp_path)
    again = kith("tenant", "create", "acme", db=db, data_dir=tmp_path)
    token = kith("token", "create", "--tenant", "acme", db=db, data_dir=tmp_path)

    assert first.returncode == again.returncode == 0
    assert first.stdout == again.stdout and first.stdout.strip().isdigit()
    assert "exists already" in again.stderr
    assert token.returncode == 0 and token.stdout.startswith("kith_") and token.stdout.count("\n") == 1
    assert await tenant_names(db) == ["acme"]


async def test_tenant_create_refuses_to_change_a_time_zone_silently(db: str, tmp_path: Path) -> None:
    kith("tenant", "create", "acme", db=db, data_dir=tmp_path)
    result = kith("tenant", "create", "acme", "--time-zone", "Europe/Paris", db=db, data_dir=tmp_path)

    assert "exists with time zone UTC" in one_line_error(result)


async def test_seed_creates_the_tenant_it_seeds(db: str, tmp_path: Path) -> None:
    help_text = kith("seed", "--help", db=db, data_dir=tmp_path).stdout
    result = kith("seed", "--tenant", "fresh", "--size", "tiny", db=db, data_dir=tmp_path, timeout=300)

    assert "creating the tenant if it does not exist" in " ".join(help_text.split())
    assert result.returncode == 0, result.stderr
    assert await tenant_names(db) == ["fresh"]


@pytest.mark.parametrize("command", ["serve", "demo"])
async def test_a_busy_port_is_one_line_before_any_work(db: str, tmp_path: Path, command: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = kith(command, "--port", str(port), db=db, data_dir=tmp_path, timeout=60)

    assert f"cannot listen on 127.0.0.1:{port}" in one_line_error(result)
    assert await tenant_names(db) == []  # the demo did not seed first


async def test_demo_keeps_its_token_until_it_stops_working(db: str, tmp_path: Path) -> None:
    kith("tenant", "create", "demo", db=db, data_dir=tmp_path)
    print_token = ["-c", "import asyncio; from kith.cli import _demo_token; print(asyncio.run(_demo_token()))"]
    env = {**os.environ, "DATABASE_URL": db, "KITH_DATA_DIR": str(tmp_path)}

    def demo_token() -> str:
        done = subprocess.run([sys.executable, *print_token], env=env, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    first, second = demo_token(), demo_token()
    conn = await asyncpg.connect(asyncpg_dsn(db))
    try:
        assert await conn.fetchval("SELECT count(*) FROM api_tokens") == 1
        await conn.execute("UPDATE api_tokens SET revoked_at = now()")
        third = demo_token()
        assert await conn.fetchval("SELECT count(*) FROM api_tokens") == 2
    finally:
        await conn.close()

    assert first == second != third
    assert (tmp_path / "demo_token").read_text().strip() == third
    assert (tmp_path / "demo_token").stat().st_mode & 0o077 == 0


class TestDataDir:
    @pytest.fixture(autouse=True)
    def no_configured_dir(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.delenv("KITH_DATA_DIR", raising=False)
        monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))

    def test_found_from_a_subfolder_of_the_project(self, tmp_path: Path) -> None:
        (tmp_path / "pyproject.toml").write_text('[project]\nname = "kith"\nversion = "0.1.0"\n')
        (tmp_path / "src" / "kith").mkdir(parents=True)

        assert find_data_dir(start=tmp_path / "src" / "kith") == tmp_path / ".kith"
        assert not (tmp_path / "src" / ".kith").exists()

    def test_an_existing_kith_folder_marks_the_project(self, tmp_path: Path) -> None:
        (tmp_path / ".kith").mkdir()
        (tmp_path / "a" / "b").mkdir(parents=True)

        assert find_data_dir(start=tmp_path / "a" / "b") == tmp_path / ".kith"

    def test_another_project_is_not_kith(self, tmp_path: Path) -> None:
        (tmp_path / "pyproject.toml").write_text('[project]\nname = "kithless"\n')

        # Unless some folder above this test's (say /tmp) holds a `.kith`: then that one is the project.
        marked = next((f / ".kith" for f in tmp_path.parents if (f / ".kith").is_dir()), None)

        assert user_data_dir() == tmp_path / "xdg" / "kith"
        assert find_data_dir(start=tmp_path) == (marked or user_data_dir())

    def test_the_environment_wins(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("KITH_DATA_DIR", str(tmp_path / "elsewhere"))

        assert find_data_dir(start=REPO / "src") == tmp_path / "elsewhere"

    def test_this_repository_from_its_src_folder(self) -> None:
        assert find_data_dir(start=REPO / "src" / "kith") == REPO / ".kith"


HEAVY_MODULES = ("sqlalchemy", "advanced_alchemy", "litestar", "uvicorn", "kith.models")


@pytest.mark.parametrize("args", [["--help"], ["token", "create", "--tenant", "acme"], ["tenant", "create", "acme"]])
async def test_quick_commands_import_no_orm_and_no_web_framework(db: str, tmp_path: Path, args: list[str]) -> None:
    """What keeps them well under a second (timings: README, `hyperfine`); checked as imports, not as time."""
    kith("tenant", "create", "acme", db=db, data_dir=tmp_path)
    env = {**os.environ, "DATABASE_URL": db, "KITH_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "kith", *args], env=env, capture_output=True, text=True, timeout=60
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}

    assert done.returncode == 0, done.stderr
    assert ("click" in imported and "asyncpg" in imported) or args == ["--help"]
    assert sorted(m for m in imported if m.split(".")[0] in HEAVY_MODULES or m in HEAVY_MODULES) == []


async def test_tenant_set_bulk_mail(db: str, tmp_path: Path) -> None:
    tenant_id = kith("tenant", "create", "acme", db=db, data_dir=tmp_path).stdout.strip()
    imported = kith("tenant", "set-bulk-mail", "acme", "import", db=db, data_dir=tmp_path)
    assert imported.returncode == 0 and imported.stdout.strip() == tenant_id
    conn = await asyncpg.connect(asyncpg_dsn(db))
    try:
        assert await conn.fetchval("SELECT skip_bulk_mail FROM tenants WHERE name = 'acme'") is False
        kith("tenant", "set-bulk-mail", "acme", "skip", db=db, data_dir=tmp_path)
        assert await conn.fetchval("SELECT skip_bulk_mail FROM tenants WHERE name = 'acme'") is True
    finally:
        await conn.close()
    assert "no tenant named 'nosuch'" in one_line_error(
        kith("tenant", "set-bulk-mail", "nosuch", "skip", db=db, data_dir=tmp_path)
    )
