from __future__ import annotations

from litestar import Request

from kith.auth.principal import Principal
from kith.db.config import app_reader
from kith.plans import PlanLimits, plan_cache


def provide_principal(request: Request) -> Principal:
    return request.user


async def provide_plan(request: Request) -> PlanLimits:
    """The caller's tenant's plan (cached per process; see kith.plans)."""
    return await plan_cache(request.app).get(app_reader(request.app), request.user.tenant_id)
