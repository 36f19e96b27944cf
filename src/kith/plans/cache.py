from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncEngine

from kith.observability.metrics import cache_lookup
from kith.plans.limits import PlanLimits
from kith.plans.queries import PLAN_OF_TENANT

PLAN_CACHE_STATE_KEY = "kith_plan_cache"


class UnknownTenantPlanError(LookupError):
    pass


class PlanCache:
    """tenant id → PlanLimits, loaded on first use; entries leave only on a `plan` notification
    (or a reset of the channel), never by age.

    A load that overlaps an invalidation is not kept (the generation moved on meanwhile),
    so a reader can never store what was true before a change it was told about.
    """

    def __init__(self, listening: Callable[[], bool]) -> None:
        # Kept only while the channel is heard: otherwise a change could pass unnoticed.
        self._listening = listening
        self._plans: dict[int, PlanLimits] = {}
        self._generation = 0
        self.hits = 0
        self.misses = 0

    async def get(self, engine: AsyncEngine, tenant_id: int) -> PlanLimits:
        if (plan := self._plans.get(tenant_id)) is not None:
            self.hits += 1
            cache_lookup("plans", hit=True)
            return plan
        self.misses += 1
        cache_lookup("plans", hit=False)
        generation = self._generation
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
        if generation == self._generation and self._listening():
            self._plans[tenant_id] = plan
        return plan

    def on_message(self, message: dict[str, Any]) -> None:
        self._generation += 1
        if (tenant_id := message.get("tenant_id")) is not None:
            self._plans.pop(tenant_id, None)
        if (plan_id := message.get("plan_id")) is not None:
            for tenant, plan in list(self._plans.items()):
                if plan.plan_id == plan_id:
                    del self._plans[tenant]

    def reset(self) -> None:
        self._generation += 1
        self._plans.clear()


def plan_cache(app: Litestar) -> PlanCache:
    return app.state[PLAN_CACHE_STATE_KEY]
