from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, LargeBinary, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from kith.models.base import Base, Timestamps


class Connection(Timestamps, Base):
    """A tenant's link to an external account (kith.connectors), created by OAuth.

    The tokens are Fernet-encrypted (kith.connectors.crypto): the database never holds them in clear.
    `checkpoint` is where the next sync starts (Gmail history id or page token, People sync token),
    committed with each batch.
    """

    __tablename__ = "connections"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'needs_reauth')", name="status"),
        Index("uq_connections_tenant_provider_account", "tenant_id", "provider", "account", unique=True),
        Index("ix_connections_tenant_created", "tenant_id", "created_at", "id"),
        Index("ix_connections_due", "next_sync_at", postgresql_where=text("status = 'active'")),
        Index("ix_connections_current_run", "current_run_id"),
        Index("ix_connections_last_run", "last_run_id"),
    )

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(Text)
    account: Mapped[str] = mapped_column(Text)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    status: Mapped[str] = mapped_column(Text, server_default="active")
    refresh_token: Mapped[bytes] = mapped_column(LargeBinary)
    access_token: Mapped[bytes | None] = mapped_column(LargeBinary)
    access_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    options: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    checkpoint: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    current_run_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("sync_runs.id", ondelete="SET NULL"))
    last_run_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("sync_runs.id", ondelete="SET NULL"))
    last_sync_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    next_sync_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
