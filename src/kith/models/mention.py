from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Computed, DateTime, ForeignKey, Index, Text, func, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from kith.models.base import Base


class Mention(Base):
    """A news item naming companies the tenant's contacts work at."""

    __tablename__ = "mentions"
    __table_args__ = (
        Index("uq_mentions_tenant_dedupe", "tenant_id", "dedupe_key", unique=True),
        Index("ix_mentions_tenant_published", "tenant_id", "published_at", "id"),
        # GET /mentions: newest first.
        Index("ix_mentions_tenant_published_key", "tenant_id", text("published_key DESC"), text("id DESC")),
        # btree_gin lets the tenant lead the GIN index too.
        Index("ix_mentions_tenant_companies", "tenant_id", "companies", postgresql_using="gin"),
    )

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(Text)
    dedupe_key: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    companies: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}", default=list)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # When it was published or, undated, imported: never NULL, so GET /mentions can key on it.
    published_key: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), Computed("coalesce(published_at, created_at)", persisted=True)
    )
