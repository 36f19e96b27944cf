"""Checks of a plan's limits, in the caller's transaction. Each raises a problem document."""

from __future__ import annotations

from litestar.status_codes import HTTP_403_FORBIDDEN, HTTP_429_TOO_MANY_REQUESTS
from sqlalchemy.ext.asyncio import AsyncSession

from kith.plans import queries
from kith.plans.limits import PlanLimits
from kith.problems import problem

# A streaming upload or an unfinished run ends within seconds to minutes; this is when to look again.
UPLOAD_RETRY_AFTER_SECONDS = 30


def plan_limit(detail: str, limit: str, value: int | None) -> Exception:
    return problem(HTTP_403_FORBIDDEN, "Plan Limit Reached", detail, limit=limit, value=value)


async def check_contact_room(session: AsyncSession, tenant_id: int, plan: PlanLimits, adding: int = 1) -> None:
    """403 when `adding` more contacts would pass the plan's max_contacts (two statements, only when limited)."""
    if plan.max_contacts is None:
        return
    await session.execute(queries.LOCK_TENANT_CONTACTS, {"tenant_id": tenant_id})
    count = await session.scalar(queries.CONTACTS_UP_TO, {"tenant_id": tenant_id, "limit": plan.max_contacts})
    if (count or 0) + adding > plan.max_contacts:
        raise plan_limit(f"The {plan.name} plan allows {plan.max_contacts} contacts", "max_contacts", plan.max_contacts)


def check_connector(plan: PlanLimits, source: str) -> None:
    if source not in plan.connectors:
        raise plan_limit(f"The {plan.name} plan does not include the {source} source", "connectors", None)


async def take_upload_slot(session: AsyncSession, tenant_id: int, plan: PlanLimits) -> None:
    """429 when the tenant has max_queued_runs unfinished runs, or max_uploads_in_flight uploads streaming in.

    The slot is an advisory lock held by the request's transaction, so it frees itself however the request ends.
    """
    params = {"tenant_id": tenant_id, "slots": plan.max_uploads_in_flight}
    quota = (await session.execute(queries.UPLOAD_QUOTA, params)).one()
    if quota.unfinished_runs >= plan.max_queued_runs:
        detail = f"{quota.unfinished_runs} imports are still queued or running (the plan allows {plan.max_queued_runs})"
    elif quota.slot is None:
        detail = f"{plan.max_uploads_in_flight} uploads are already streaming in (the plan's limit)"
    else:
        return
    raise problem(
        HTTP_429_TOO_MANY_REQUESTS,
        "Too Many Requests",
        detail,
        headers={"Retry-After": str(UPLOAD_RETRY_AFTER_SECONDS)},
    )
