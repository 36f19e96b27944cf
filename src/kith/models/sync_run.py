from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from kith.models.base import Base, Timestamps


class SyncRun(Timestamps, Base):
    """One import of one source."""

    __tablename__ = "sync_runs"
    __table_args__ = (
        Index("ix_sync_runs_tenant_created", "tenant_id", "created_at", "id"),
        # The runs waiting for a refresh, which each refresh of a slice looks for (migration 0021).
        Index(
            "ix_sync_runs_awaiting_refresh", "id", postgresql_where=text("(stages #>> '{refresh,status}') = 'waiting'")
        ),
        # Target of the (tenant_id, sync_run_id) foreign keys of sync_uploads and sync_run_contacts.
        UniqueConstraint("tenant_id", "id", name="uq_sync_runs_tenant_id_id"),
    )

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default="queued", default="queued")
    since: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    rows_seen: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    rows_inserted: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    rows_updated: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    rows_skipped: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    rows_failed: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    # Per-record failures: [{"index": n, "reason": "...", "excerpt": "..."}], capped.
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"), default=list)
    error: Mapped[str | None] = mapped_column(Text)
    # What the run was asked for beyond its window: input format, the user's own addresses (mbox).
    options: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"), default=dict)
    # Per stage (sync, score, refresh): status and timing.
    stages: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"), default=dict)
    # Where a run interrupted half-way resumes (kith.sync.batch_writer.Checkpoint); written with each batch.
    checkpoint: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[int | None] = mapped_column(Integer)
