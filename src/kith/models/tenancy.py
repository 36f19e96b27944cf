from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kith.models.base import Base, Timestamps


class Tenant(Timestamps, Base):
    __tablename__ = "tenants"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    # "Today" for birthdays and overdue follow-ups is the tenant's local date.
    time_zone: Mapped[str] = mapped_column(Text, server_default="UTC", default="UTC")


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
