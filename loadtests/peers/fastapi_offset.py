"""A comparison, not part of Kith: the stack a user would otherwise pick for the same listing.

FastAPI + SQLAlchemy ORM (async) + pydantic, paging with OFFSET and a `COUNT(*)` for the total, on the
contacts base table, as the systems Kith replaces did. No auth, no limits: it does less than Kith.

    DATABASE_URL=… PEER_TENANT_ID=1 uv run uvicorn fastapi_offset:app --app-dir loadtests/peers --port 8733

`GET /api/v1/contacts?page=N` (50 a page, highest score first).
"""

from __future__ import annotations

import datetime as dt
import os

from fastapi import FastAPI, Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy import BigInteger, DateTime, Float, Text, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

PAGE = 50
TENANT_ID = int(os.environ.get("PEER_TENANT_ID", "1"))
engine = create_async_engine(os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+asyncpg://", 1))
Session = async_sessionmaker(engine, expire_on_commit=False)


class Base(DeclarativeBase):
    pass


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(BigInteger)
    full_name: Mapped[str] = mapped_column(Text)
    emails: Mapped[list[str]] = mapped_column(ARRAY(Text))
    company: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text))
    score: Mapped[float] = mapped_column(Float)
    last_interaction_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ContactOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    full_name: str
    emails: list[str]
    company: str | None
    title: str | None
    tags: list[str]
    score: float
    last_interaction_at: dt.datetime | None
    created_at: dt.datetime


class ContactPage(BaseModel):
    items: list[ContactOut]
    total: int
    page: int


app = FastAPI()


@app.get("/api/v1/contacts", response_model=ContactPage)
async def contacts(page: int = Query(1, ge=1)) -> ContactPage:
    live = (Contact.tenant_id == TENANT_ID, Contact.deleted_at.is_(None))
    async with Session() as session:
        total = await session.scalar(select(func.count()).select_from(Contact).where(*live))
        rows = await session.scalars(
            select(Contact)
            .where(*live)
            .order_by(Contact.score.desc(), Contact.id)
            .offset((page - 1) * PAGE)
            .limit(PAGE)
        )
        return ContactPage(items=[ContactOut.model_validate(row) for row in rows], total=total or 0, page=page)
