from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncEngine

from kith.caching import KeptUntilNotified
from kith.plans.limits import PlanLimits
from kith.plans.queries import PLAN_OF_TENANT

PLAN_CACHE_STATE_KEY = "kith_plan_cache"


class UnknownTenantPlanError(LookupError):
    pass


class PlanCache:
    """tenant id → PlanLimits, loaded on first use and kept until a `plan` notification (kith.caching)."""

    def __init__(self, listening: Callable[[], bool], capacity: int = 100_000) -> None:
        self._plans: KeptUntilNotified[int, PlanLimits] = KeptUntilNotified(
            "plans", listening, capacity, partition_of=lambda tenant_id: tenant_id
        )

    def cached(self, tenant_id: int) -> PlanLimits | None:
        return self._plans.get(tenant_id)

    async def get(self, engine: AsyncEngine, tenant_id: int) -> PlanLimits:
        if (plan := self._plans.get(tenant_id)) is not None:
            return plan
        stamp = self._plans.stamp(tenant_id)
        async with engine.connect() as conn:
            row = (await conn.execute(PLAN_OF_TENANT, {"tenant_id": tenant_id})).first()
        if row is None:
            raise UnknownTenantPlanError(tenant_id)
        plan = PlanLimits(
            plan_id=row.id,
            name=row.name,
            requests_per_minute=row.requests_per_minute,
            max_contacts=row.max_contacts,
            max_upload_bytes=row.max_upload_bytes,
            max_uploads_in_flight=row.max_uploads_in_flight,
            max_queued_runs=row.max_queued_runs,
            connectors=frozenset(row.connectors),
        )
        self._plans.keep(tenant_id, plan, stamp)
        return plan

    def on_message(self, message: dict[str, Any]) -> None:
        if (tenant_id := message.get("tenant_id")) is not None:
            self._plans.forget_partition(tenant_id)
        if (plan_id := message.get("plan_id")) is not None:
            self._plans.forget_where(lambda _tenant, plan: plan.plan_id == plan_id)

    def reset(self) -> None:
        self._plans.reset()

    def __len__(self) -> int:
        return len(self._plans)


def plan_cache(app: Litestar) -> PlanCache:
    return app.state[PLAN_CACHE_STATE_KEY]
