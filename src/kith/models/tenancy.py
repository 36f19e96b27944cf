from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from kith.models.base import Base, Timestamps

ALL_SCOPES = ("read", "write", "import")


class Plan(Timestamps, Base):
    """What a tenant may do: request rate, contacts, uploads, sources. One plan is the default."""

    __tablename__ = "plans"

    name: Mapped[str] = mapped_column(Text, unique=True)
    is_default: Mapped[bool] = mapped_column(Boolean, server_default="false", default=False)
    requests_per_minute: Mapped[int] = mapped_column(Integer)
    max_contacts: Mapped[int | None] = mapped_column(Integer)  # None: no limit
    max_upload_bytes: Mapped[int] = mapped_column(BigInteger)
    max_uploads_in_flight: Mapped[int] = mapped_column(Integer)
    max_queued_runs: Mapped[int] = mapped_column(Integer)
    connectors: Mapped[list[str]] = mapped_column(ARRAY(Text))


class Tenant(Timestamps, Base):
    __tablename__ = "tenants"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    # "Today" for birthdays and overdue follow-ups is the tenant's local date.
    time_zone: Mapped[str] = mapped_column(Text, server_default="UTC", default="UTC")
    # Mail from lists and no-reply senders is skipped on import (kith.sync.sources.bulk_mail); False imports it.
    skip_bulk_mail: Mapped[bool] = mapped_column(Boolean, server_default="true", default=True)
    # None: the default plan.
    plan_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("plans.id", name="fk_tenants_plan_id"))


class User(Timestamps, Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_id", "email"),)

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)


class ApiToken(Base):
    """A bearer token. Only its SHA-256 is stored: the token itself is shown once."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        Index("ix_api_tokens_tenant_user", "tenant_id", "user_id"),
        CheckConstraint("scopes <@ ARRAY['read', 'write', 'import']::text[]", name="known_scopes"),
    )

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    name: Mapped[str | None] = mapped_column(Text)
    # What the token may do: read (GET), write (create, change, delete), import (POST /sync).
    scopes: Mapped[list[str]] = mapped_column(
        ARRAY(Text), server_default=text("'{read,write,import}'"), default=lambda: list(ALL_SCOPES)
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Updated at most once a minute (see kith.auth.queries): when the token was last seen.
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class IdempotencyKey(Base):
    """The first response to a request sent with an `Idempotency-Key`, replayed to its retries until it expires."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_tenant_expires", "tenant_id", "expires_at"),)

    id = None  # type: ignore[assignment]  # keyed by (tenant_id, key)
    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    fingerprint: Mapped[bytes] = mapped_column(LargeBinary)
    status_code: Mapped[int] = mapped_column(SmallInteger)
    headers: Mapped[dict[str, str]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"), default=dict)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    media_type: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
