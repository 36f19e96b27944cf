"""Settings, read once from the environment into typed objects."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


@dataclass(frozen=True, slots=True)
class LimitSettings:
    """Limits that hold before a tenant is known (per client address); the rest are per plan."""

    requests_per_minute_per_address: int
    auth_failures_per_address: int
    auth_failure_window_seconds: int
    # "redis" (shared by every API process; the default when REDIS_URL is set) or "memory" (per process).
    store: str
    namespace: str


@dataclass(frozen=True, slots=True)
class HttpSettings:
    cors_origins: tuple[str, ...]
    compression_min_bytes: int
    json_logs: bool


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
    limits: LimitSettings
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
        limits=LimitSettings(
            requests_per_minute_per_address=int(os.environ.get("KITH_RATE_LIMIT_PER_ADDRESS", "6000")),
            auth_failures_per_address=int(os.environ.get("KITH_AUTH_FAILURES_PER_ADDRESS", "20")),
            auth_failure_window_seconds=int(os.environ.get("KITH_AUTH_FAILURE_WINDOW_SECONDS", "300")),
            store=os.environ.get("KITH_LIMITS_STORE") or ("redis" if os.environ.get("REDIS_URL") else "memory"),
            namespace=os.environ.get("KITH_LIMITS_NAMESPACE", "kith_limits"),
        ),
        http=HttpSettings(
            cors_origins=tuple(o.strip() for o in os.environ.get("KITH_CORS_ORIGINS", "").split(",") if o.strip()),
            compression_min_bytes=int(os.environ.get("KITH_COMPRESSION_MIN_BYTES", "1024")),
            json_logs=os.environ.get("KITH_LOG_FORMAT", "json") == "json",
        ),
    )
