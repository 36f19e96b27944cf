"""Turn the standard `postgresql://` form into the driver URLs Kith uses."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg", "postgresql+psycopg", "postgresql+psycopg2")


def _split(url: str):
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES:
        raise ValueError(f"DATABASE_URL must be a postgresql:// URL, got scheme {parts.scheme!r}")
    return parts


def sqlalchemy_url(url: str) -> str:
    """`postgresql+asyncpg://…`, for SQLAlchemy."""
    return urlunsplit(_split(url)._replace(scheme="postgresql+asyncpg"))


def asyncpg_dsn(url: str) -> str:
    """`postgresql://…`, for asyncpg.connect (COPY, LISTEN, benchmarks)."""
    return urlunsplit(_split(url)._replace(scheme="postgresql"))


def with_database(url: str, database: str) -> str:
    """The same server, another database."""
    return urlunsplit(_split(url)._replace(path=f"/{database}"))


def database_name(url: str) -> str:
    return _split(url).path.lstrip("/") or "postgres"
