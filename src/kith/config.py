"""Settings: read once from the environment into one object with typed sections.

Nothing else in Kith reads the environment. Every duration is in seconds.
Tests that change a variable call `get_settings.cache_clear()`.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

QUEUES = ("sync", "compute")


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    url: str | None  # DATABASE_URL; None: the embedded server in data_dir
    sql_echo: bool
    # KITH_READ_REPLICA_URLS: streaming standbys of that server, for single-statement reads (kith.db.replicas).
    read_replica_urls: tuple[str, ...]
    replica_max_lag: float  # seconds behind the primary past which a replica leaves the rotation
    replica_wait: float  # seconds a read waits for a replica to replay its client's last write, then the primary
    replica_check_interval: float  # seconds between checks of each replica's position (its lag)
    primary_reads: bool  # the primary takes a share of the reads too (not only those no replica can serve)
    # KITH_DB_CONNECTIONS: connections one `kith serve` or `kith worker` opens at most, all its processes and
    # pools together (kith.db.budget divides them); KITH_DB_PROCESSES is how many processes share them (set
    # by those commands for their children).
    connections: int
    processes: int
    pool_timeout: float  # KITH_DB_POOL_TIMEOUT: seconds a request waits for a connection before its 503


@dataclass(frozen=True, slots=True)
class HttpSettings:
    host: str
    port: int
    max_upload_bytes: int
    # KITH_PUBLIC_URL: where clients reach the API (`https://kith.example`, no trailing slash). Absolute
    # URLs (Location, Link) are built on it, never on the request's Host header; relative without it.
    public_url: str | None
    cors_origins: tuple[str, ...]
    compression_min_bytes: int
    json_logs: bool
    page_cache_bytes: int  # KITH_PAGE_CACHE_BYTES: pages kept per process (kith.pagination.cache); 0: none
    # KITH_TRUSTED_PROXIES: addresses or networks whose X-Forwarded-For / X-Forwarded-Proto are believed
    # (the client's address for limits and logs). None by default: a client cannot choose its address.
    trusted_proxies: tuple[str, ...]
    # Seconds a connection may take to send its next request's headers (from its opening or its previous
    # response: kith.server.connections), and may stay idle between requests (uvicorn's keep-alive timeout).
    header_timeout: float
    keep_alive_timeout: int


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
class JobSettings:
    redis_url: str | None  # REDIS_URL; None: jobs run inside the process that sends them
    queue_prefix: str  # streams are `<prefix>:<queue>`, so one Redis serves several deployments apart
    worker_queue: str | None  # the queue a `kith worker` process reads (set by `kith worker` for its children)
    sync_concurrency: int
    compute_concurrency: int
    stream_maxlen: int
    result_ttl: int  # seconds
    redeliver_after: int  # seconds an unacknowledged task of a dead worker waits before another takes it
    max_deliveries: int  # a message delivered this often (it kills its workers) is dropped
    worker_stop_timeout: int  # seconds a stopping worker gives its running jobs before handing them back
    max_retries: int
    retry_delay: float  # seconds
    retry_max_delay: float  # seconds
    # Seconds a requested job may stay unsent (Redis unreachable, a process died) before the sweeper sends it.
    resend_after: int
    # A tenant with more live contacts than this gets slices of its own (kith.readmodels.isolation).
    own_slice_contacts: int
    refresh_cron: str
    vacuum_cron: str
    rescore_cron: str
    cleanup_cron: str


@dataclass(frozen=True, slots=True)
class SyncSettings:
    run_retention_days: int
    # Which source's value a contact field keeps when sources disagree, best first, per field ("*": the
    # others). KITH_FIELD_PRECEDENCE="full_name=vcard,linkedin;title=linkedin,vcard": named fields replace
    # their default. The user (through the API) outranks every source; unnamed sources follow, by name.
    field_precedence: Mapping[str, tuple[str, ...]]
    # Region of phone numbers written without a country code (ISO 3166 code; KITH_PHONE_REGION).
    phone_region: str
    # How long a merge of contacts can be undone (KITH_MERGE_UNDO_DAYS): its snapshot is kept that long.
    merge_undo_days: int
    # Records per batch of an import (KITH_SYNC_BATCH_SIZE): a transaction each, and what memory holds at once.
    batch_size: int


# An address book is who the user says people are; LinkedIn is where they say what they do now.
# Google (a connection: Google Contacts, with Gmail's and Calendar's people) is an address book too.
DEFAULT_FIELD_PRECEDENCE: Mapping[str, tuple[str, ...]] = {
    "*": ("vcard", "google", "linkedin", "mbox"),
    "company": ("linkedin", "vcard", "google", "mbox"),
    "title": ("linkedin", "vcard", "google", "mbox"),
}


def _field_precedence(value: str | None) -> Mapping[str, tuple[str, ...]]:
    precedence = dict(DEFAULT_FIELD_PRECEDENCE)
    for entry in filter(None, (e.strip() for e in (value or "").split(";"))):
        field, _, sources = entry.partition("=")
        precedence[field.strip()] = tuple(s.strip() for s in sources.split(",") if s.strip())
    return precedence


@dataclass(frozen=True, slots=True)
class ConnectorSettings:
    """Live connectors (Gmail, Google Contacts and Calendar, GitHub, X). The URLs are settings so a fake or a proxy
    can stand in for the provider."""

    google_client_id: str | None
    google_client_secret: str | None
    google_auth_url: str
    google_token_url: str
    gmail_api_url: str
    people_api_url: str
    calendar_api_url: str
    github_api_url: str  # GitHub's REST API v3 (GitHub Enterprise: https://HOST/api/v3)
    x_api_url: str  # X's API v2, and its OAuth 2.0 token endpoint (/2/oauth2/token)
    x_client_id: str | None  # the X app's OAuth 2.0 client: refreshing an X connection's access token needs it
    x_client_secret: str | None  # None: a public client (PKCE only), which sends no secret
    # Fernet keys (url-safe base64 of 32 bytes), newest first: tokens are encrypted with the first and
    # decrypted with any (rotation). None: one key derived from the secret key.
    token_keys: tuple[str, ...] | None
    sync_interval: int  # seconds between two syncs of a connection
    stale_after: int  # seconds a run may go without progress before the scheduler hands it out again
    fetch_concurrency: int  # batch requests one run keeps in flight (a tenant's runs take turns: per tenant too)
    max_retries: int  # attempts of one request against rate limits and 5xx before the run fails
    retry_delay: float  # seconds, doubled per attempt (with jitter) when the API says no Retry-After
    retry_max_delay: float


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    secret_key: str
    database: DatabaseSettings
    http: HttpSettings
    limits: LimitSettings
    jobs: JobSettings
    sync: SyncSettings
    connectors: ConnectorSettings


def _secret_key(env: Mapping[str, str], data_dir: Path) -> str:
    """KITH_SECRET_KEY, else a key generated once and kept in the data folder.

    Kept on disk (not per process) so cursors stay valid across restarts and
    across the worker processes of one machine.
    """
    if key := env.get("KITH_SECRET_KEY"):
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


def find_data_dir(env: Mapping[str, str] = os.environ, start: Path | None = None) -> Path:
    """Where Kith keeps its embedded database and secret, found the way tools find their project.

    KITH_DATA_DIR when set; else `.kith` in the nearest folder, from the current one up, that
    holds a `.kith` folder or Kith's own `pyproject.toml`; else the user's data folder
    (`$XDG_DATA_HOME/kith`, by default `~/.local/share/kith`; on macOS `~/Library/Application
    Support/kith`; on Windows `%LOCALAPPDATA%\\kith`). Never a new folder under a subfolder.
    """
    if configured := env.get("KITH_DATA_DIR"):
        return Path(configured).expanduser().resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / DATA_DIR_NAME).is_dir() or _is_kith_project(folder / "pyproject.toml"):
            return folder / DATA_DIR_NAME
    return user_data_dir(env)


def _is_kith_project(pyproject: Path) -> bool:
    try:
        return bool(_KITH_PROJECT.search(pyproject.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError):
        return False


def user_data_dir(env: Mapping[str, str] = os.environ) -> Path:
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "kith"
    if sys.platform == "win32":
        return Path(env.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "kith"
    return Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "kith"


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name)
    return int(value) if value else default


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name)
    return float(value) if value else default


def _public_url(value: str | None) -> str | None:
    if not value:
        return None
    parsed = urlsplit(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.query or parsed.fragment:
        raise ValueError(f"KITH_PUBLIC_URL must be an http(s) URL without query or fragment, not {value!r}")
    return value.rstrip("/")


def _trusted_proxies(value: str | None) -> tuple[str, ...]:
    proxies = tuple(p.strip() for p in (value or "").split(",") if p.strip())
    for proxy in proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ValueError(
                f"KITH_TRUSTED_PROXIES takes IP addresses or networks (10.0.0.0/8), comma-separated, not {proxy!r}"
            ) from None
    return proxies


def read_settings(env: Mapping[str, str]) -> Settings:
    data_dir = find_data_dir(env)
    return Settings(
        data_dir=data_dir,
        secret_key=_secret_key(env, data_dir),
        database=DatabaseSettings(
            url=env.get("DATABASE_URL") or None,
            sql_echo=env.get("KITH_SQL_ECHO") == "1",
            read_replica_urls=tuple(
                u.strip() for u in (env.get("KITH_READ_REPLICA_URLS") or "").split(",") if u.strip()
            ),
            replica_max_lag=_float(env, "KITH_REPLICA_MAX_LAG", 30),
            replica_wait=_float(env, "KITH_REPLICA_WAIT", 0.1),
            replica_check_interval=_float(env, "KITH_REPLICA_CHECK_INTERVAL", 1),
            primary_reads=env.get("KITH_PRIMARY_READS") == "1",
            connections=_int(env, "KITH_DB_CONNECTIONS", 20),
            processes=_int(env, "KITH_DB_PROCESSES", 1),
            pool_timeout=_float(env, "KITH_DB_POOL_TIMEOUT", 5),
        ),
        http=HttpSettings(
            host=env.get("KITH_HOST") or "127.0.0.1",
            port=_int(env, "KITH_PORT", 8000),
            max_upload_bytes=_int(env, "KITH_MAX_UPLOAD_BYTES", 50 * 1024 * 1024),
            public_url=_public_url(env.get("KITH_PUBLIC_URL")),
            cors_origins=tuple(o.strip() for o in (env.get("KITH_CORS_ORIGINS") or "").split(",") if o.strip()),
            compression_min_bytes=_int(env, "KITH_COMPRESSION_MIN_BYTES", 1024),
            json_logs=(env.get("KITH_LOG_FORMAT") or "json") == "json",
            page_cache_bytes=_int(env, "KITH_PAGE_CACHE_BYTES", 64 * 1024 * 1024),
            trusted_proxies=_trusted_proxies(env.get("KITH_TRUSTED_PROXIES")),
            header_timeout=_float(env, "KITH_HEADER_TIMEOUT", 10),
            keep_alive_timeout=_int(env, "KITH_KEEP_ALIVE_TIMEOUT", 5),
        ),
        limits=LimitSettings(
            requests_per_minute_per_address=_int(env, "KITH_RATE_LIMIT_PER_ADDRESS", 6000),
            auth_failures_per_address=_int(env, "KITH_AUTH_FAILURES_PER_ADDRESS", 20),
            auth_failure_window_seconds=_int(env, "KITH_AUTH_FAILURE_WINDOW_SECONDS", 300),
            store=env.get("KITH_LIMITS_STORE") or ("redis" if env.get("REDIS_URL") else "memory"),
            namespace=env.get("KITH_LIMITS_NAMESPACE") or "kith_limits",
        ),
        jobs=JobSettings(
            redis_url=env.get("REDIS_URL") or None,
            queue_prefix=env.get("KITH_QUEUE_PREFIX") or "kith",
            worker_queue=env.get("KITH_WORKER_QUEUE") or None,
            sync_concurrency=_int(env, "KITH_SYNC_CONCURRENCY", 16),
            compute_concurrency=_int(env, "KITH_COMPUTE_CONCURRENCY", 2),
            stream_maxlen=_int(env, "KITH_STREAM_MAXLEN", 100_000),
            result_ttl=_int(env, "KITH_RESULT_TTL", 24 * 3600),
            redeliver_after=_int(env, "KITH_REDELIVER_AFTER", 60),
            max_deliveries=_int(env, "KITH_MAX_DELIVERIES", 5),
            worker_stop_timeout=_int(env, "KITH_WORKER_STOP_TIMEOUT", 20),
            max_retries=_int(env, "KITH_TASK_MAX_RETRIES", 5),
            retry_delay=_float(env, "KITH_TASK_RETRY_DELAY", 2),
            retry_max_delay=_float(env, "KITH_TASK_RETRY_MAX_DELAY", 60),
            resend_after=_int(env, "KITH_JOB_RESEND_AFTER", 60),
            own_slice_contacts=_int(env, "KITH_OWN_SLICE_CONTACTS", 50_000),
            refresh_cron=env.get("KITH_REFRESH_CRON") or "*/5 * * * *",
            vacuum_cron=env.get("KITH_VACUUM_CRON") or "17 * * * *",
            rescore_cron=env.get("KITH_RESCORE_CRON") or "0 3 * * *",
            cleanup_cron=env.get("KITH_CLEANUP_CRON") or "30 3 * * *",
        ),
        sync=SyncSettings(
            run_retention_days=_int(env, "KITH_SYNC_RUN_RETENTION_DAYS", 90),
            field_precedence=_field_precedence(env.get("KITH_FIELD_PRECEDENCE")),
            phone_region=(env.get("KITH_PHONE_REGION") or "US").upper(),
            merge_undo_days=_int(env, "KITH_MERGE_UNDO_DAYS", 30),
            batch_size=_int(env, "KITH_SYNC_BATCH_SIZE", 5000),
        ),
        connectors=ConnectorSettings(
            google_client_id=env.get("KITH_GOOGLE_CLIENT_ID") or None,
            google_client_secret=env.get("KITH_GOOGLE_CLIENT_SECRET") or None,
            google_auth_url=env.get("KITH_GOOGLE_AUTH_URL") or "https://accounts.google.com/o/oauth2/v2/auth",
            google_token_url=env.get("KITH_GOOGLE_TOKEN_URL") or "https://oauth2.googleapis.com/token",
            gmail_api_url=(env.get("KITH_GMAIL_API_URL") or "https://gmail.googleapis.com").rstrip("/"),
            people_api_url=(env.get("KITH_PEOPLE_API_URL") or "https://people.googleapis.com").rstrip("/"),
            calendar_api_url=(env.get("KITH_CALENDAR_API_URL") or "https://www.googleapis.com").rstrip("/"),
            github_api_url=(env.get("KITH_GITHUB_API_URL") or "https://api.github.com").rstrip("/"),
            x_api_url=(env.get("KITH_X_API_URL") or "https://api.x.com").rstrip("/"),
            x_client_id=env.get("KITH_X_CLIENT_ID") or None,
            x_client_secret=env.get("KITH_X_CLIENT_SECRET") or None,
            token_keys=tuple(k.strip() for k in keys.split(",") if k.strip())
            if (keys := env.get("KITH_TOKEN_KEYS"))
            else None,
            sync_interval=_int(env, "KITH_CONNECTOR_SYNC_INTERVAL", 900),
            stale_after=_int(env, "KITH_CONNECTOR_STALE_AFTER", 3600),
            fetch_concurrency=_int(env, "KITH_CONNECTOR_CONCURRENCY", 4),
            max_retries=_int(env, "KITH_CONNECTOR_MAX_RETRIES", 8),
            retry_delay=_float(env, "KITH_CONNECTOR_RETRY_DELAY", 1),
            retry_max_delay=_float(env, "KITH_CONNECTOR_RETRY_MAX_DELAY", 120),
        ),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return read_settings(os.environ)
