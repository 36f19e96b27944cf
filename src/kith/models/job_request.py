from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import DateTime, Integer, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from kith.models.base import Base


class JobRequest(Base):
    """A job a service asked for (the outbox, kith.jobqueue.outbox): written in the transaction
    of the work it serves, deleted once the job is sent. A row still here past `send_after` was
    never sent (the queue was unreachable, the process died) and the sweeper sends it."""

    # No index besides the key: a request is deleted once sent, so the table holds only the few
    # unsent ones and the sweeper's scan of it is as cheap as an index would be.
    __tablename__ = "job_requests"

    job_name: Mapped[str] = mapped_column(Text)
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    requested_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("clock_timestamp()"))
    send_after: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    error: Mapped[str | None] = mapped_column(Text)
