"""The jobs. Thin: each calls the service the API and the CLI call, and sends the next job.

The chain of an import: `sync` (queue sync) → `score` (queue compute) →
`refresh` of the run's tenant's slice of each read model (queue compute). Every step may be delivered twice (a
retry, a worker that died before acknowledging): each is idempotent, and a step
already done is skipped while the chain still moves on.

Scheduled (`kith scheduler`, cron from the settings): `refresh_views`,
`vacuum_views`, `rescore` (nightly) and `cleanup`. The outbox's sweeper (jobs
requested but never sent, see kith.jobqueue.outbox) is no job: the scheduler
runs it itself, since it must work while the queue is unreachable.

Services never import this module; they request jobs by name
(kith.jobqueue.names) through the outbox. Entry points (the app, the CLI, the
worker) import it, which defines the jobs.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from kith.config import QUEUES, get_settings
from kith.connectors.running import execute_connection_run
from kith.connectors.service import queue_due_syncs
from kith.db.locks import held_exclusively, job_key
from kith.jobqueue import names
from kith.jobqueue.broker import MAX_HOLD, jobs, stream
from kith.jobqueue.engine import Engine
from kith.people.service import find_duplicates_after_run
from kith.readmodels import coalesced_refresh as readmodels
from kith.readmodels.isolation import isolate_tenant, needs_own_slices
from kith.readmodels.models import READ_MODELS, Slice, slice_named
from kith.readmodels.routes import relearn_routes
from kith.scoring.service import rescore_all, score_sync_run
from kith.sync.running import execute_sync_run
from kith.tasks import queries

logger = logging.getLogger(__name__)

_settings = get_settings()

# Every job has a timeout (seconds), under the broker's MAX_HOLD. A refresh's own statement
# timeout fires first, so a slow refresh ends as a recorded failure rather than a cancelled task.
SYNC_TIMEOUT = 3600
SCORE_TIMEOUT = 1800
REFRESH_TIMEOUT = readmodels.STATEMENT_TIMEOUT + readmodels.SETTLE_TIMEOUT + 300
VACUUM_TIMEOUT = readmodels.VACUUM_TIMEOUT + 300
RESCORE_TIMEOUT = 3600
CLEANUP_TIMEOUT = 600
assert max(SYNC_TIMEOUT, SCORE_TIMEOUT, REFRESH_TIMEOUT, VACUUM_TIMEOUT, RESCORE_TIMEOUT) < MAX_HOLD


class SyncRunNotFound(LookupError):
    pass


async def _run_state(engine: AsyncEngine, sync_run_id: int) -> Any:
    async with engine.connect() as conn:
        state = (await conn.execute(queries.RUN_STATE, {"id": sync_run_id})).first()
    if state is None:
        raise SyncRunNotFound(f"no sync run {sync_run_id}")
    return state


# ---------------------------------------------------------------- the chain


@jobs.task(task_name=names.SYNC, queue="sync", timeout=SYNC_TIMEOUT)
async def sync(sync_run_id: int, engine: Engine) -> dict[str, Any]:
    """Import a queued run (a run already finished is left as it is), then score it."""
    await execute_sync_run(engine, sync_run_id)
    state = await _run_state(engine, sync_run_id)
    if state.status == "succeeded" and state.score_status != "succeeded":
        await score.kiq(sync_run_id)
    return {"sync_run_id": sync_run_id, "status": state.status}


@jobs.task(task_name=names.CONNECTION_SYNC, queue="sync", timeout=SYNC_TIMEOUT)
async def connection_sync(sync_run_id: int, engine: Engine) -> dict[str, Any]:
    """Sync a connection (kith.connectors): a run like an import's, resumed from its checkpoint; then score it."""
    await execute_connection_run(engine, sync_run_id)
    state = await _run_state(engine, sync_run_id)
    if state.status == "succeeded" and state.score_status != "succeeded":
        await score.kiq(sync_run_id)
    return {"sync_run_id": sync_run_id, "status": state.status}


@jobs.task(task_name=names.SCORE, queue="compute", timeout=SCORE_TIMEOUT)
async def score(sync_run_id: int, engine: Engine) -> dict[str, Any]:
    """Score the contacts the run touched (one set-based statement), request the refreshes, then find the
    tenant's duplicate candidates (another statement)."""
    state = await _run_state(engine, sync_run_id)
    if state.status != "succeeded":  # a failed import is not scored (its landed batches are, nightly)
        return {"sync_run_id": sync_run_id, "skipped": state.status}
    changed = None
    scoring = state.score_status != "succeeded"
    if scoring:
        changed = await score_sync_run(engine, sync_run_id)
    if await needs_own_slices(engine, state.tenant_id, _settings.jobs.own_slice_contacts):
        await isolate.kiq(state.tenant_id)  # its later refreshes cost its own rows only, and others' not theirs
    if state.refresh_status != "succeeded":
        await relearn_routes(engine, state.tenant_id)
        slices = [model.slice_of(state.tenant_id) for model in READ_MODELS]  # the run's tenant's, no other
        async with engine.begin() as conn:
            await conn.execute(queries.AWAIT_REFRESH, {"id": sync_run_id, "views": [s.relation for s in slices]})
        await _request_refreshes(slices)
    if scoring:
        # After the refreshes are asked for: the read models do not depend on it, and on a large tenant it
        # reads every contact (129 s on 1,000,000), which the import's rows waited for before being listed.
        await find_duplicates_after_run(engine, sync_run_id)
    return {"sync_run_id": sync_run_id, "contacts_changed": changed}


@jobs.task(task_name=names.REFRESH, queue="compute", timeout=REFRESH_TIMEOUT)
async def refresh(relation: str, engine: Engine) -> dict[str, Any]:
    """Request a refresh of a read model's slice (named by its relation in the message): coalesced with any
    other (see kith.readmodels.coalesced_refresh)."""
    outcome = await readmodels.request_refresh(engine, slice_named(relation))
    return {"view": outcome.slice.relation, "refreshes": outcome.refreshes}


@jobs.task(task_name=names.ISOLATE, queue="compute", timeout=REFRESH_TIMEOUT)
async def isolate(tenant_id: int, engine: Engine) -> dict[str, Any]:
    """Move a tenant into slices of its own, online (see kith.readmodels.isolation). Idempotent."""
    return {"tenant_id": tenant_id, "slices": await isolate_tenant(engine, tenant_id)}


async def _request_refreshes(slices: list[Slice]) -> list[str]:
    for target in slices:
        await refresh.kiq(target.relation)
    return [target.relation for target in slices]


# ---------------------------------------------------------------- scheduled


@jobs.task(
    task_name=names.REFRESH_VIEWS,
    queue="compute",
    timeout=60,
    schedule=[{"cron": _settings.jobs.refresh_cron, "schedule_id": "refresh_views"}],
)
async def refresh_views(engine: Engine) -> list[str]:
    """Request a refresh of every slice of every read model, in turn (time-relative figures move; batch
    results land)."""
    return await _request_refreshes(await readmodels.every_slice(engine))


@jobs.task(
    task_name=names.SYNC_CONNECTIONS,
    queue="compute",
    timeout=60,
    schedule=[{"cron": "* * * * *", "schedule_id": "sync_connections"}],
)
async def sync_connections(engine: Engine) -> dict[str, int]:
    """Every minute: a sync for each connection due (KITH_CONNECTOR_SYNC_INTERVAL after its last)."""
    return {"queued": await queue_due_syncs(engine)}


@jobs.task(
    task_name=names.VACUUM_VIEWS,
    queue="compute",
    timeout=VACUUM_TIMEOUT,
    schedule=[{"cron": _settings.jobs.vacuum_cron, "schedule_id": "vacuum_views"}],
)
async def vacuum_views(engine: Engine) -> dict[str, bool]:
    """`VACUUM (ANALYZE)` each slice: concurrent refreshes leave dead rows behind."""
    return {
        target.relation: await readmodels.vacuum_slice(engine, target)
        for target in await readmodels.every_slice(engine)
    }


@jobs.task(
    task_name=names.RESCORE,
    queue="compute",
    timeout=RESCORE_TIMEOUT,
    schedule=[{"cron": _settings.jobs.rescore_cron, "schedule_id": "rescore"}],
)
async def rescore(engine: Engine) -> dict[str, Any]:
    """Rescore every contact (scores decay with time), then refresh the views."""
    async with held_exclusively(engine, job_key("rescore")) as got:
        if not got:
            logger.info("rescore skipped: another one is running")
            return {"skipped": True}
        changed = await rescore_all(engine)
    await _request_refreshes(await readmodels.every_slice(engine))
    return {"contacts_changed": changed}


@jobs.task(
    task_name=names.CLEANUP,
    queue="compute",
    timeout=CLEANUP_TIMEOUT,
    schedule=[{"cron": _settings.jobs.cleanup_cron, "schedule_id": "cleanup"}],
)
async def cleanup(engine: Engine) -> dict[str, Any]:
    """Delete sync runs older than the retention (with their uploads) and expired idempotency keys;
    forget dead stream consumers.

    Task results need no sweeping: they expire in Redis (KITH_RESULT_TTL).
    """
    async with held_exclusively(engine, job_key("cleanup")) as got:
        if not got:
            return {"skipped": True}
        deleted = 0
        while True:
            async with engine.begin() as conn:
                n = (
                    await conn.execute(
                        queries.DELETE_OLD_RUNS,
                        {
                            "days": _settings.sync.run_retention_days,
                            "batch": 1000,
                        },
                    )
                ).rowcount
            deleted += n
            if n < 1000:
                break
        async with engine.begin() as conn:
            keys = (await conn.execute(queries.DELETE_EXPIRED_IDEMPOTENCY_KEYS)).rowcount
    consumers = await _forget_dead_consumers()
    logger.info(
        "cleanup: %d old sync runs deleted, %d expired idempotency keys deleted, %d dead consumers forgotten",
        deleted,
        keys,
        consumers,
    )
    return {"sync_runs_deleted": deleted, "idempotency_keys_deleted": keys, "consumers_forgotten": consumers}


async def _forget_dead_consumers(idle_ms: int = 24 * 3600 * 1000) -> int:
    """Each worker process joins the stream's group under a new name; drop the ones long gone with nothing pending."""
    if not _settings.jobs.redis_url:
        return 0
    forgotten = 0
    async with Redis.from_url(_settings.jobs.redis_url) as redis:
        for queue in QUEUES:
            try:
                consumers = await redis.xinfo_consumers(stream(queue), "kith")
            except Exception:  # no stream or group yet
                continue
            for consumer in consumers:
                if consumer["pending"] == 0 and consumer["idle"] > idle_ms:
                    await redis.xgroup_delconsumer(stream(queue), "kith", consumer["name"])
                    forgotten += 1
    return forgotten
