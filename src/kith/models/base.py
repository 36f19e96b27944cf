"""Declarative base: advanced-alchemy's identity base plus server-side timestamps.

Timestamps default in the database (not only in Python) so that COPY and
set-based writers (seed, sync) get them too.
"""

from __future__ import annotations

import datetime as dt

from advanced_alchemy.base import IdentityBase
from sqlalchemy import DateTime, func
from sqlalchemy.orm import Mapped, mapped_column


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(IdentityBase):
    __abstract__ = True


class Timestamps:
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow, onupdate=utcnow
    )
