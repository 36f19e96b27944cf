"""Contacts: listings from the contact_cards read model, writes to the base table."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kith.contacts import queries
from kith.contacts.schemas import Contact, ContactCreate, ContactPatch, UpcomingBirthday
from kith.db.reads import Source, fetch_all, fetch_first
from kith.models import Contact as ContactRow
from kith.pagination.cursor import Binding, Position
from kith.pagination.keyset import Sort
from kith.pagination.page import Page, build_page, codec
from kith.plans import PlanLimits
from kith.plans.enforce import check_contact_room
from kith.problems import bad_request, not_found, problem


def utc_now() -> dt.datetime:
    """The clock birthdays are relative to (tests pin it)."""
    return dt.datetime.now(dt.UTC)


clock: Callable[[], dt.datetime] = utc_now


# ---------------------------------------------------------------- listings


@dataclass(frozen=True, slots=True)
class ListingRequest:
    tenant_id: int
    endpoint: str
    limit: int
    cursor: str | None
    filters: dict[str, Any]


def _decode(
    request: ListingRequest, sort: Sort, extra_key_types: tuple[type, ...] = ()
) -> tuple[Binding, Position | None]:
    binding = Binding(request.tenant_id, request.endpoint, sort.name, request.filters)
    if request.cursor is None:
        return binding, None
    return binding, codec().decode(request.cursor, binding, (*extra_key_types, *sort.key_types))


# Listing rows lead with as_of, segment, birthday month/day, then the sort key (see queries.listing_query).
LEADING_COLUMNS = 4


def contact_from(row: Any, sort: Sort) -> Contact:
    return Contact(*row[LEADING_COLUMNS + len(sort.columns) :])


def _key_of(sort: Sort) -> Callable[[Any], tuple]:
    start = LEADING_COLUMNS
    return lambda row: tuple(row[start : start + len(sort.columns)])


async def _run(reader: AsyncEngine, query: queries.ListingQuery) -> tuple[list[Any], dt.datetime | None]:
    result = await fetch_all(reader, query.statement, query.params)
    as_of = result[0].as_of if result else None
    return [r for r in result if r.segment is not None], as_of


async def list_contacts(reader: AsyncEngine, request: ListingRequest, sort_name: str) -> Page[Contact]:
    sort = queries.SORTS[sort_name]
    binding, position = _decode(request, sort)
    direction = position.direction if position else "next"
    query = queries.listing_query(
        tenant_id=request.tenant_id,
        sort=sort,
        direction=direction,
        cursor_key=position.key if position else None,
        filters=request.filters,
        limit=request.limit,
    )
    rows, as_of = await _run(reader, query)
    return build_page(
        rows,
        limit=request.limit,
        position=position,
        binding=binding,
        key_of=_key_of(sort),
        item_of=lambda r: contact_from(r, sort),
        as_of=as_of,
    )


async def list_overdue(reader: AsyncEngine, request: ListingRequest) -> Page[Contact]:
    sort = queries.OVERDUE_SORT
    binding, position = _decode(request, sort)
    query = queries.listing_query(
        tenant_id=request.tenant_id,
        sort=sort,
        direction=position.direction if position else "next",
        cursor_key=position.key if position else None,
        filters=request.filters,
        limit=request.limit,
        segments=(queries.Segment("r.follow_up_due_key < now()"),),
    )
    rows, as_of = await _run(reader, query)
    return build_page(
        rows,
        limit=request.limit,
        position=position,
        binding=binding,
        key_of=_key_of(sort),
        item_of=lambda r: contact_from(r, sort),
        as_of=as_of,
    )


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


def next_birthday(year: int, month: int, day: int) -> dt.date:
    if month == 2 and day == 29 and not calendar.isleap(year):
        return dt.date(year, 2, 28)
    return dt.date(year, month, day)


async def list_birthdays(
    reader: AsyncEngine, request: ListingRequest, time_zone: str, within_days: int
) -> Page[UpcomingBirthday]:
    sort = queries.BIRTHDAY_SORT
    # The cursor carries the day the walk started on, so a walk across midnight stays one listing.
    binding, position = _decode(request, sort, extra_key_types=(int, int))
    today = dt.date.fromordinal(position.key[0]) if position else local_today(time_zone)
    ranges = birthday_segments(today, within_days)
    segments = [
        queries.Segment(f"r.birthday_mmdd BETWEEN :first{i} AND :last{i}", {f"first{i}": first, f"last{i}": last})
        for i, (_, first, last) in enumerate(ranges)
    ]
    query = queries.listing_query(
        tenant_id=request.tenant_id,
        sort=sort,
        direction=position.direction if position else "next",
        cursor_key=position.key[1:] if position else None,
        filters=request.filters,
        limit=request.limit,
        segments=segments,
        segmented=True,
    )
    rows, as_of = await _run(reader, query)
    ordinal = today.toordinal()
    key_of = _key_of(sort)

    def item(row: Any) -> UpcomingBirthday:
        year = ranges[row.segment][0]
        fields = row[LEADING_COLUMNS + len(sort.columns) :]
        return UpcomingBirthday(*fields, next_birthday=next_birthday(year, row.birthday_month, row.birthday_day))

    return build_page(
        rows,
        limit=request.limit,
        position=position,
        binding=binding,
        key_of=lambda r: (ordinal, r.segment, *key_of(r)),
        item_of=item,
        as_of=as_of,
    )


async def get_contact(source: Source, tenant_id: int, contact_id: int) -> Contact:
    row = await fetch_first(source, queries.CONTACT_CARD, {"tenant_id": tenant_id, "id": contact_id})
    if row is None:
        raise not_found(f"No contact {contact_id}")
    return Contact(*row)


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


async def _sync_email_keys(session: AsyncSession, tenant_id: int, contact_id: int, emails: list[str]) -> None:
    conflicts = (
        (
            await session.execute(
                queries.SYNC_EMAIL_KEYS, {"tenant_id": tenant_id, "contact_id": contact_id, "emails": emails}
            )
        )
        .scalars()
        .all()
    )
    if conflicts:
        raise problem(409, "Conflict", "email already belongs to another contact", emails=sorted(conflicts))


async def create_contact(session: AsyncSession, tenant_id: int, plan: PlanLimits, data: ContactCreate) -> Contact:
    await check_contact_room(session, tenant_id, plan)
    service = ContactService(session=session)
    row = await service.create(
        ContactRow(tenant_id=tenant_id, changed_at=func.now(), **_column_values(msgspec.structs.asdict(data))),
        auto_refresh=False,
    )
    await _sync_email_keys(session, tenant_id, row.id, data.emails)
    return await get_contact(session, tenant_id, row.id)


async def _owned(service: ContactService, tenant_id: int, contact_id: int) -> ContactRow:
    row = await service.get_one_or_none(id=contact_id, tenant_id=tenant_id, deleted_at=None)
    if row is None:  # another tenant's id looks exactly like a missing one
        raise not_found(f"No contact {contact_id}")
    return row


async def update_contact(session: AsyncSession, tenant_id: int, contact_id: int, patch: ContactPatch) -> Contact:
    service = ContactService(session=session)
    row = await _owned(service, tenant_id, contact_id)
    changes = {k: v for k, v in msgspec.structs.asdict(patch).items() if v is not msgspec.UNSET}
    for name, value in _column_values(changes).items():
        setattr(row, name, value)
    row.changed_at = func.now()
    await service.update(row, auto_refresh=False)
    if "emails" in changes:
        await _sync_email_keys(session, tenant_id, contact_id, changes["emails"])
    return await get_contact(session, tenant_id, contact_id)


async def delete_contact(session: AsyncSession, tenant_id: int, contact_id: int) -> None:
    service = ContactService(session=session)
    row = await _owned(service, tenant_id, contact_id)
    row.deleted_at = func.now()
    row.changed_at = func.now()
    await service.update(row, auto_refresh=False)
    await session.execute(queries.DELETE_KEYS, {"tenant_id": tenant_id, "contact_id": contact_id})
