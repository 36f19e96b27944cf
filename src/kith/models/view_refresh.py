from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, DateTime, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from kith.models.base import Base


class ViewRefresh(Base):
    """The refresh state of one materialized view, a slice of a read model (one row per slice).

    `as_of` is the start of the transaction of the last successful refresh:
    every row in the view reflects the base tables as of then. `generation`
    moves on every successful refresh, drawn from one sequence for all slices.
    """

    __tablename__ = "view_refreshes"

    view_name: Mapped[str] = mapped_column(Text, unique=True)
    status: Mapped[str] = mapped_column(Text, server_default="never", default="never")
    requested_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    as_of: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    generation: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
