from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kith.contacts.schemas import Contact, ContactPage
from kith.models import Contact as ContactRow


def format_birthday(month: int | None, day: int | None, year: int | None) -> str | None:
    if month is None or day is None:
        return None
    return f"{year:04d}-{month:02d}-{day:02d}" if year else f"--{month:02d}-{day:02d}"


def to_schema(row: ContactRow) -> Contact:
    return Contact(
        id=row.id, full_name=row.full_name, emails=row.emails, phones=row.phones, company=row.company,
        title=row.title, tags=row.tags, birthday=format_birthday(row.birthday_month, row.birthday_day, row.birthday_year),
        cadence_days=row.cadence_days, links=row.links, notes=row.notes, score=row.score,
        last_interaction_at=row.last_interaction_at, created_at=row.created_at, updated_at=row.updated_at,
    )


async def first_page(session: AsyncSession, tenant_id: int, limit: int = 50) -> ContactPage:
    rows = await session.scalars(
        select(ContactRow)
        .where(ContactRow.tenant_id == tenant_id, ContactRow.deleted_at.is_(None))
        .order_by(ContactRow.score.desc(), ContactRow.id.desc())
        .limit(limit)
    )
    return ContactPage(items=[to_schema(r) for r in rows], next_cursor=None, prev_cursor=None, as_of=None)
