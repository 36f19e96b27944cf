"""Plans: each tenant's limits, read once per process and dropped when the channel says they changed."""

from kith.plans.cache import PLAN_CACHE_STATE_KEY, PlanCache, plan_cache
from kith.plans.limits import PlanLimits

__all__ = ["PLAN_CACHE_STATE_KEY", "PlanCache", "PlanLimits", "plan_cache"]
