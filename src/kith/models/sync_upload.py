from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKeyConstraint, Integer, LargeBinary
from sqlalchemy.orm import Mapped, mapped_column

from kith.models.base import Base


class SyncUpload(Base):
    """One chunk (≤ 1 MiB) of a file uploaded for a sync run, kept until the run is done.

    In PostgreSQL rather than on the API's disk, so a worker on any machine reads it,
    chunk by chunk, in constant memory.
    """

    __tablename__ = "sync_uploads"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "sync_run_id"], ["sync_runs.tenant_id", "sync_runs.id"], ondelete="CASCADE"),
    )

    id = None  # type: ignore[assignment]  # keyed by (tenant_id, sync_run_id, seq)
    tenant_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    sync_run_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class SyncRunContact(Base):
    """A contact a sync run inserted or gave new messages: what its scoring pass covers."""

    __tablename__ = "sync_run_contacts"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "sync_run_id"], ["sync_runs.tenant_id", "sync_runs.id"], ondelete="CASCADE"),
    )

    id = None  # type: ignore[assignment]
    tenant_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    sync_run_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # No foreign key: see migration 0003.
    contact_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
