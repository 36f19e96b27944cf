"""Settings, read once from the environment into typed objects."""

from __future__ import annotations

import os
import re
import secrets
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None
    redis_url: str | None
    secret_key: str
    data_dir: Path
    host: str
    port: int
    sql_echo: bool
    max_upload_bytes: int


def _secret_key(data_dir: Path) -> str:
    """KITH_SECRET_KEY, else a key generated once and kept in the data folder.

    Kept on disk (not per process) so cursors stay valid across restarts and
    across the worker processes of one machine.
    """
    if key := os.environ.get("KITH_SECRET_KEY"):
        return key
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        # Processes starting together race here: each writes its own file, the first link wins, all read it.
        candidate = data_dir / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
        candidate.write_text(secrets.token_urlsafe(48))
        candidate.chmod(0o600)
        try:
            os.link(candidate, path)
        except FileExistsError:
            pass
        finally:
            candidate.unlink()
    return path.read_text().strip()


DATA_DIR_NAME = ".kith"
_KITH_PROJECT = re.compile(r'^name\s*=\s*"kith"\s*$', re.MULTILINE)


def find_data_dir(start: Path | None = None) -> Path:
    """Where Kith keeps its embedded database and secret, found the way tools find their project.

    KITH_DATA_DIR when set; else `.kith` in the nearest folder, from the current one up, that
    holds a `.kith` folder or Kith's own `pyproject.toml`; else the user's data folder
    (`$XDG_DATA_HOME/kith`, by default `~/.local/share/kith`; on macOS `~/Library/Application
    Support/kith`; on Windows `%LOCALAPPDATA%\\kith`). Never a new folder under a subfolder.
    """
    if configured := os.environ.get("KITH_DATA_DIR"):
        return Path(configured).expanduser().resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / DATA_DIR_NAME).is_dir() or _is_kith_project(folder / "pyproject.toml"):
            return folder / DATA_DIR_NAME
    return user_data_dir()


def _is_kith_project(pyproject: Path) -> bool:
    try:
        return bool(_KITH_PROJECT.search(pyproject.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError):
        return False


def user_data_dir() -> Path:
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "kith"
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "kith"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "kith"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    data_dir = find_data_dir()
    return Settings(
        database_url=os.environ.get("DATABASE_URL") or None,
        redis_url=os.environ.get("REDIS_URL") or None,
        secret_key=_secret_key(data_dir),
        data_dir=data_dir,
        host=os.environ.get("KITH_HOST", "127.0.0.1"),
        port=int(os.environ.get("KITH_PORT", "8000")),
        sql_echo=os.environ.get("KITH_SQL_ECHO", "") == "1",
        max_upload_bytes=int(os.environ.get("KITH_MAX_UPLOAD_BYTES", str(50 * 1024 * 1024))),
    )
