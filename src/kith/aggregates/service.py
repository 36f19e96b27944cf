"""The dashboard and the daily mention series: one statement each, from the aggregate read models."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import msgspec
from sqlalchemy import Row, TextClause
from sqlalchemy.ext.asyncio import AsyncEngine

from kith.aggregates import queries
from kith.aggregates.schemas import Company, DailyMentions, Dashboard, LastSyncRun, MentionSeries
from kith.contacts.service import birthday_segments, local_today
from kith.db.reads import fetch_all
from kith.pagination.page import Freshness
from kith.problems import not_found
from kith.readmodels.routes import relearn_routes

# The dashboard's birthday window, as GET /contacts/birthdays?within_days=7 counts it.
BIRTHDAY_DAYS = 7
EMPTY_RANGE = (1, 0)


async def _read(reader: AsyncEngine, statement: Callable[[int], TextClause], params: dict[str, Any]) -> list[Row]:
    """The statement of the tenant's slices; read again if the tenant moved to another slice meanwhile."""
    rows = await fetch_all(reader, statement(params["tenant_id"]), params)
    if not rows[0].routed:
        await relearn_routes(reader, params["tenant_id"])
        rows = await fetch_all(reader, statement(params["tenant_id"]), params)
    return rows


async def dashboard(reader: AsyncEngine, tenant_id: int, time_zone: str) -> tuple[Dashboard, Freshness]:
    ranges = [(first, last) for _, first, last in birthday_segments(local_today(time_zone), BIRTHDAY_DAYS)]
    (first0, last0), (first1, last1) = [*ranges, EMPTY_RANGE][:2]
    params = {"tenant_id": tenant_id, "first0": first0, "last0": last0, "first1": first1, "last1": last1}
    row = (await _read(reader, queries.dashboard, params))[0]._mapping
    board = Dashboard(
        contacts=row["contacts"],
        overdue_contacts=row["overdue_contacts"],
        upcoming_birthdays=row["upcoming_birthdays"],
        messages_7d=row["messages_7d"],
        messages_30d=row["messages_30d"],
        conversations_awaiting_reply=row["conversations_awaiting_reply"],
        top_companies=msgspec.json.decode(row["top_companies"], type=list[Company]),
        last_sync_run=msgspec.json.decode(row["last_sync_run"], type=LastSyncRun) if row["last_sync_run"] else None,
        as_of=row["as_of"],
    )
    return board, Freshness(row["as_of"], row["generation"], row["next_due"])


async def daily_mentions(
    reader: AsyncEngine, tenant_id: int, time_zone: str, company: str, days: int
) -> tuple[MentionSeries, Freshness]:
    last = local_today(time_zone)
    first = last - dt.timedelta(days=days - 1)
    rows = await _read(
        reader, queries.daily_mentions, {"tenant_id": tenant_id, "company": company, "first": first, "last": last}
    )
    if not rows[0].found:  # another tenant's company looks exactly like a missing one
        raise not_found(f"No company {company!r}")
    series = [DailyMentions(day=r.day, mentions=r.mentions) for r in rows]
    series_of = MentionSeries(company=company, days=days, series=series, as_of=rows[0].as_of)
    return series_of, Freshness(rows[0].as_of, rows[0].generation)


async def company(reader: AsyncEngine, tenant_id: int, name: str) -> tuple[Company, Freshness]:
    """One company and the freshness of its figures; a 404 when no live contact of the tenant works there."""
    row = (await _read(reader, queries.company, {"tenant_id": tenant_id, "name": name}))[0]
    if row.name is None:
        raise not_found(f"No company {name!r}")
    return msgspec.convert(row, Company, from_attributes=True), Freshness(row.as_of, row.generation)
