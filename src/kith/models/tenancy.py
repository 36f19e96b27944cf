from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from kith.models.base import Base, Timestamps


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
    __table_args__ = (Index("ix_api_tokens_tenant_user", "tenant_id", "user_id"),)

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    name: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default="now()")
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
