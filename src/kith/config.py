"""Settings, read once from the environment into typed objects."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class HttpSettings:
    # KITH_PUBLIC_URL: where clients reach the API (`https://kith.example`, no trailing slash). Absolute
    # URLs (Location, Link) are built on it, never on the request's Host header; relative without it.
    public_url: str | None


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
    http: HttpSettings


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


def _public_url(value: str | None) -> str | None:
    if not value:
        return None
    parsed = urlsplit(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.query or parsed.fragment:
        raise ValueError(f"KITH_PUBLIC_URL must be an http(s) URL without query or fragment, not {value!r}")
    return value.rstrip("/")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    data_dir = Path(os.environ.get("KITH_DATA_DIR", ".kith")).expanduser().resolve()
    return Settings(
        database_url=os.environ.get("DATABASE_URL") or None,
        redis_url=os.environ.get("REDIS_URL") or None,
        secret_key=_secret_key(data_dir),
        data_dir=data_dir,
        host=os.environ.get("KITH_HOST", "127.0.0.1"),
        port=int(os.environ.get("KITH_PORT", "8000")),
        sql_echo=os.environ.get("KITH_SQL_ECHO", "") == "1",
        max_upload_bytes=int(os.environ.get("KITH_MAX_UPLOAD_BYTES", str(50 * 1024 * 1024))),
        http=HttpSettings(public_url=_public_url(os.environ.get("KITH_PUBLIC_URL"))),
    )
