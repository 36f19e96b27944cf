"""Contacts: listings from the contact_cards read model, writes to the base table."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService
from litestar.status_codes import HTTP_409_CONFLICT
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from kith.config import get_settings
from kith.contacts import queries
from kith.contacts.schemas import ContactCreate, ContactDetail, ContactPatch
from kith.db.reads import Source, fetch_first
from kith.identities import SCALAR_FIELDS, SET_FIELDS, USER, identities, profile_keys
from kith.models import Contact as ContactRow
from kith.pagination.listing import Segment, SegmentPlan
from kith.plans import PlanLimits
from kith.plans.enforce import check_contact_room
from kith.problems import bad_request, not_found, problem


def utc_now() -> dt.datetime:
    """The clock birthdays are relative to (tests pin it)."""
    return dt.datetime.now(dt.UTC)


clock: Callable[[], dt.datetime] = utc_now


# ---------------------------------------------------------------- listings


def local_today(time_zone: str) -> dt.date:
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return clock().astimezone(zone).date()


def _mmdd(day: dt.date) -> int:
    return day.month * 100 + day.day


def birthday_segments(today: dt.date, within_days: int) -> list[tuple[int, int, int]]:
    """(year, first mmdd, last mmdd) ranges covering today … today + within_days, each contact once.

    In a year without Feb 29, Feb 29 birthdays fall on Feb 28: `mmdd` 229 sorts
    right after 228, so a range ending on Feb 28 is stretched to include it.
    """
    end = today + dt.timedelta(days=within_days)
    segments = [(today.year, _mmdd(today), _mmdd(end) if end.year == today.year else 1231)]
    if end.year > today.year and _mmdd(today) > 101:
        # Next year's part stops before today's date: one upcoming birthday per contact.
        last = min(_mmdd(end), _mmdd(today) - 1)
        segments.append((today.year + 1, 101, last))
    stretched = []
    for year, first, last in segments:
        if last == 228 and not calendar.isleap(year) and (_mmdd(today) if year > today.year else 10000) > 229:
            last = 229
        stretched.append((year, first, last))
    return stretched


def birthday_plan(time_zone: str, within_days: int) -> SegmentPlan:
    """Segments of the birthday window starting today (or on the day a walk started on, from its cursor)."""

    def plan(context: tuple | None) -> tuple[tuple, list[Segment]]:
        today = dt.date.fromordinal(context[0]) if context else local_today(time_zone)
        segments = [
            Segment(
                f"r.birthday_mmdd BETWEEN :first_{i} AND :last_{i}",
                {
                    f"first_{i}": first,
                    f"last_{i}": last,
                    f"year_{i}": year,
                    f"feb29_{i}": 29 if calendar.isleap(year) else 28,
                },
                # Feb 29 birthdays fall on Feb 28 in common years.
                {
                    "next_birthday": f"make_date(:year_{i}, r.birthday_month,"
                    f" CASE WHEN r.birthday_mmdd = 229 THEN :feb29_{i} ELSE r.birthday_day END)"
                },
            )
            for i, (year, first, last) in enumerate(birthday_segments(today, within_days))
        ]
        return (today.toordinal(),), segments

    return plan


async def get_contact(source: Source, tenant_id: int, contact_id: int, *, provenance: bool = False) -> ContactDetail:
    statement = queries.CONTACT_CARD_WITH_PROVENANCE if provenance else queries.CONTACT_CARD
    row = await fetch_first(source, statement, {"tenant_id": tenant_id, "id": contact_id})
    if row is None:
        raise not_found(f"No contact {contact_id}")
    return msgspec.convert(row, ContactDetail, from_attributes=True)


# ---------------------------------------------------------------- writes


class ContactRepository(SQLAlchemyAsyncRepository[ContactRow]):
    model_type = ContactRow


class ContactService(SQLAlchemyAsyncRepositoryService[ContactRow]):
    repository_type = ContactRepository


def parse_birthday(value: str | None) -> tuple[int | None, int | None, int | None]:
    """`YYYY-MM-DD` or `--MM-DD` → (month, day, year); a date that does not exist is a 400."""
    if value is None:
        return None, None, None
    year_text, month, day = value[:-6], int(value[-5:-3]), int(value[-2:])
    year = None if year_text == "-" else int(year_text)
    try:
        dt.date(year or 2000, month, day)  # 2000 is a leap year: --02-29 is a valid birthday
    except ValueError:
        raise bad_request(f"birthday {value!r} is not a date", field="birthday") from None
    return month, day, year


def _column_values(fields: dict[str, Any]) -> dict[str, Any]:
    values = dict(fields)
    if "birthday" in values:
        values["birthday_month"], values["birthday_day"], values["birthday_year"] = parse_birthday(
            values.pop("birthday")
        )
    return values


def _credit_user(row: ContactRow, fields: dict[str, Any]) -> None:
    """Credit the values a request sets to the user, before they are set: imports never replace them. A set
    field credits each value it keeps, and marks each it drops as removed (an import does not restore it)."""
    provenance = dict(row.provenance or {})
    credit = {"source": USER, "at": utc_now().isoformat()}
    for name, value in fields.items():
        if name in SET_FIELDS:
            entries = dict(provenance.get(name) or {})
            entries.update({v: {**credit, "removed": True} for v in getattr(row, name) or [] if v not in value})
            entries.update(dict.fromkeys(value, credit))
            provenance[name] = entries
        elif name in SCALAR_FIELDS:
            provenance[name] = credit
    row.provenance = provenance


def _identify(row: ContactRow) -> None:
    row.identities = identities(row.emails, row.phones, row.links, get_settings().sync.phone_region)


async def _sync_keys(
    session: AsyncSession, tenant_id: int, contact_id: int, emails: list[str], links: list[str]
) -> None:
    profiles = profile_keys(links)
    params = {
        "tenant_id": tenant_id,
        "contact_id": contact_id,
        "emails": emails,
        "profile_kinds": [kind for kind, _ in profiles],
        "profile_values": [value for _, value in profiles],
    }
    conflicts = (await session.execute(queries.SYNC_CONTACT_KEYS, params)).scalars().all()
    if conflicts:
        raise problem(
            HTTP_409_CONFLICT, "Conflict", "email already belongs to another contact", emails=sorted(conflicts)
        )


async def create_contact(session: AsyncSession, tenant_id: int, plan: PlanLimits, data: ContactCreate) -> ContactDetail:
    await check_contact_room(session, tenant_id, plan)
    service = ContactService(session=session)
    fields = msgspec.structs.asdict(data)
    row = ContactRow(tenant_id=tenant_id, changed_at=func.now(), emails=[], phones=[], tags=[], links=[])
    _credit_user(row, {name: value for name, value in fields.items() if value not in (None, [])})
    for name, value in _column_values(fields).items():
        setattr(row, name, value)
    _identify(row)
    row = await service.create(row, auto_refresh=False)
    await _sync_keys(session, tenant_id, row.id, data.emails, data.links)
    return await get_contact(session, tenant_id, row.id)


async def _owned(service: ContactService, tenant_id: int, contact_id: int) -> ContactRow:
    row = await service.get_one_or_none(id=contact_id, tenant_id=tenant_id, deleted_at=None)
    if row is None:  # another tenant's id looks exactly like a missing one
        raise not_found(f"No contact {contact_id}")
    return row


async def update_contact(session: AsyncSession, tenant_id: int, contact_id: int, patch: ContactPatch) -> ContactDetail:
    service = ContactService(session=session)
    row = await _owned(service, tenant_id, contact_id)
    changes = {k: v for k, v in msgspec.structs.asdict(patch).items() if v is not msgspec.UNSET}
    _credit_user(row, changes)
    for name, value in _column_values(changes).items():
        setattr(row, name, value)
    _identify(row)
    row.changed_at = func.now()
    await service.update(row, auto_refresh=False)
    if "emails" in changes or "links" in changes:
        await _sync_keys(session, tenant_id, contact_id, row.emails, row.links)
    return await get_contact(session, tenant_id, contact_id)


async def delete_contact(session: AsyncSession, tenant_id: int, contact_id: int) -> None:
    service = ContactService(session=session)
    row = await _owned(service, tenant_id, contact_id)
    row.deleted_at = func.now()
    row.changed_at = func.now()
    await service.update(row, auto_refresh=False)
    await session.execute(queries.DELETE_KEYS, {"tenant_id": tenant_id, "contact_id": contact_id})
