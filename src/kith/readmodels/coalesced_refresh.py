"""Refreshing the read models' slices: coalesced, never blocking readers, failures leave the old contents.

The protocol, per slice (one materialized view of a read model, see
kith.readmodels.models; all state in PostgreSQL, so it holds across any number
of worker processes and machines):

* A request records itself (`view_refreshes.requested_at`, committed), then
  tries the slice's advisory lock.
* Who gets the lock checks, under it, whether a request is newer than the last
  pass's start; if so it runs one pass (`REFRESH ... CONCURRENTLY`, readers
  never wait), records it and commits, which releases the lock.
* After releasing the lock it checks again, without it, and goes round while a
  request is uncovered. A requester that did not get the lock just returns: its
  request was committed before its attempt, so before the holder released, so
  the holder's check after releasing sees it. However many requests arrive
  during a pass, they cause exactly one more pass.

A failed pass (error, lock or statement timeout) rolls back to a savepoint, so
the slice keeps its previous contents, `as_of` and `generation`, and records `failed` with the
error while still holding the lock; the error propagates (the job retries it if
it is transient) and any request not yet covered is served by the next request
or scheduled refresh. A worker killed mid-pass loses its connection; the server
notices within CLIENT_CHECK_INTERVAL, rolls back and releases the lock.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kith.db import locks
from kith.db.session import standalone_engine
from kith.observability.metrics import REFRESH_SECONDS
from kith.readmodels import queries
from kith.readmodels.models import READ_MODELS, ReadModel, Slice
from kith.readmodels.routes import relearn_routes, slices_of

logger = logging.getLogger(__name__)

# Seconds. A pass's own statement timeout fires before its job's timeout (kith.tasks.jobs), so a
# slow refresh ends as a recorded failure rather than a cancelled task.
LOCK_TIMEOUT = 5
STATEMENT_TIMEOUT = 1800
CLIENT_CHECK_INTERVAL = 2
VACUUM_TIMEOUT = 1800
SETTLE_TIMEOUT = 600  # the VACUUM (ANALYZE) after a pass: a slice's changed pages only


class RefreshFailed(RuntimeError):
    """A pass failed; the previous contents are still served and the failure is recorded."""


@dataclass(frozen=True, slots=True)
class RefreshOutcome:
    slice: Slice
    refreshes: int  # passes this call ran (0: another process holds the lock and will do it)


async def request_refresh(engine: AsyncEngine, target: Slice) -> RefreshOutcome:
    """Record a request, then refresh until no request is left uncovered (or someone else is on it)."""
    async with engine.begin() as conn:
        mark = queries.MARK_REQUESTED if target.tenant_id is None else queries.MARK_OWN_REQUESTED
        await conn.execute(mark, {"view_name": target.relation})
    return await drain_requests(engine, target)


async def drain_requests(engine: AsyncEngine, target: Slice) -> RefreshOutcome:
    """Serve the requests already recorded for the slice (no new one). Used after holding its lock."""
    passes = 0
    while True:
        locked, ran = await _refresh_once(engine, target)
        if not locked:
            break  # the holder re-checks after releasing and will see our request
        passes += ran
        async with engine.connect() as conn:
            if not await conn.scalar(queries.PENDING, {"view_name": target.relation}):
                break
    return RefreshOutcome(target, passes)


async def _refresh_once(engine: AsyncEngine, target: Slice) -> tuple[bool, bool]:
    """One pass if the lock is free and a request is uncovered. Returns (got the lock, refreshed)."""
    view_name = target.relation
    params = {"view_name": view_name}
    failure: Exception | None = None
    started_at: dt.datetime | None = None
    try:
        async with engine.begin() as conn:
            # One key per view: the refresh holds it as a transaction-level lock (released when the pass
            # commits or fails, whatever happens to the worker); VACUUM holds it as a session-level lock.
            if not await conn.scalar(locks.TRY_XACT_LOCK, {"key": locks.refresh_key(view_name)}):
                return False, False
            state = (await conn.execute(queries.REFRESH_STATE, params)).one_or_none()
            if state is None or (
                state.started_at is not None and (state.requested_at is None or state.requested_at <= state.started_at)
            ):
                return True, False
            started_at = await conn.scalar(text("SELECT clock_timestamp()"))
            await _set_local_timeouts(conn)
            # No JIT: the slices' plans are priced far above jit_*_above_cost (the LEFT JOINs of grouped
            # rows are estimated at millions of rows where there is one per tenant), and compiling them
            # costs more than it saves: 4.5 s of a 60 ms refresh of a shared tenant_dashboard slice on the
            # large data set; a medium tenant's own tenant_dashboard slice 4.35 s with JIT, 1.36 s without
            # (tag_stats 3.80 s, 2.28 s), the others within noise.
            await conn.execute(text("SET LOCAL jit = off"))
            if target.tenant_id is None:
                # A shared slice holds small tenants only (a large one has its own): reading each tenant's
                # rows by index is always right, whatever a generic estimate of `tenant_id = $1` says.
                await conn.execute(text("SET LOCAL enable_seqscan = off"))
            try:
                async with conn.begin_nested():
                    concurrently = bool(await conn.scalar(queries.IS_POPULATED, params))
                    as_of = await conn.scalar(queries.SNAPSHOT_AS_OF)
                    await conn.execute(queries.refresh_statement(view_name, concurrently))
            except Exception as exc:  # rolled back to the savepoint: the old contents stay
                failure = exc
                await conn.execute(
                    queries.RECORD_FAILURE, {**params, "started_at": started_at, "error": _describe(exc)}
                )
            else:
                finished_at = await conn.scalar(
                    queries.RECORD_SUCCESS, {**params, "started_at": started_at, "as_of": as_of}
                )
                if target.model.live_only_changed:  # readers see the new as_of and the cleared marks together
                    await conn.execute(queries.clear_marks(target), {"as_of": as_of})
    except Exception as exc:
        # The transaction itself failed (e.g. the connection was lost): record it if we still can.
        if started_at is not None:
            await _record_failure_late(engine, view_name, started_at, failure or exc)
        raise
    if failure is not None:
        logger.error("refresh of %s failed; the previous contents stay served: %s", view_name, _describe(failure))
        raise RefreshFailed(f"refresh of {view_name} failed: {_describe(failure)}") from failure
    logger.info("refreshed %s (as of %s)", view_name, as_of.isoformat())
    REFRESH_SECONDS.labels(view_name).observe((finished_at - started_at).total_seconds())
    await _mark_runs_refreshed(engine, view_name, started_at, as_of, finished_at)
    await settle(engine, target)
    await keep_statistics(engine, target)
    return True, True


async def keep_statistics(engine: AsyncEngine, target: Slice) -> None:
    """Run what the view file runs after each refresh of a slice (the search's statistics of contact_cards),
    best effort: without it reads still work (a search asks its index for the whole pattern), so a failure
    is logged, never the refresh's."""
    statistics = target.statistics_sql()
    if statistics is None:
        return
    try:
        async with engine.begin() as conn:
            await conn.execute(text("SET LOCAL jit = off"))
            raw = await conn.get_raw_connection()
            await raw.driver_connection.execute(statistics)  # several statements: the simple protocol
    except Exception:
        logger.exception("could not keep the statistics of %s", target.relation)


async def _set_local_timeouts(conn: AsyncConnection) -> None:
    # Constants, not input; SET does not take bind parameters.
    await conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}s'"))
    await conn.execute(text(f"SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}s'"))
    await conn.execute(text(f"SET LOCAL client_connection_check_interval = '{CLIENT_CHECK_INTERVAL}s'"))


async def _mark_runs_refreshed(
    engine: AsyncEngine, view_name: str, started_at: dt.datetime, as_of: dt.datetime, finished_at: dt.datetime
) -> None:
    """Complete the refresh stage of the sync runs this pass covered (best effort: the next pass retries)."""
    try:
        async with engine.begin() as conn:
            await conn.execute(
                queries.MARK_RUNS_REFRESHED,
                {
                    "view_name": view_name,
                    "started_at": started_at,
                    "as_of": as_of,
                    "finished_at": finished_at,
                },
            )
    except Exception:
        logger.exception("could not record the refresh of %s on the sync runs waiting for it", view_name)


async def _record_failure_late(
    engine: AsyncEngine, view_name: str, started_at: dt.datetime, exc: BaseException
) -> None:
    try:
        async with engine.begin() as conn:
            await conn.execute(
                queries.RECORD_FAILURE, {"view_name": view_name, "started_at": started_at, "error": _describe(exc)}
            )
    except Exception:
        logger.exception("could not record the failed refresh of %s", view_name)


def _describe(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    message = str(orig if orig is not None else exc).strip() or type(exc).__name__
    return message.splitlines()[0][:2000]


async def vacuum_slice(engine: AsyncEngine, target: Slice) -> bool:
    """`VACUUM (ANALYZE)` the slice (concurrent refreshes leave dead tuples). False if a refresh holds it.

    VACUUM and REFRESH take conflicting table locks, so VACUUM holds the view's refresh
    key meanwhile: a refresh request arriving then finds the key taken and returns, and
    the requests it left are served here afterwards.
    """
    if not await _vacuum(engine, target, VACUUM_TIMEOUT):
        return False
    await drain_requests(engine, target)
    return True


async def settle(engine: AsyncEngine, target: Slice) -> None:
    """`VACUUM (ANALYZE)` the slice a pass just wrote, best effort (a failure is logged, never the refresh's).

    A pass leaves the pages it wrote out of the visibility map (a first one: every page), so each index-only
    scan (a search's glance, a page's keys) reads the heap row by row, and a new slice has no column
    statistics, until a VACUUM and an ANALYZE. Autovacuum may be off or an hour away: on 1,000,000 contacts
    searches took twice as long until then, and the VACUUM (ANALYZE) takes 2 s. If a refresh holds the key,
    that pass settles the slice after itself.
    """
    try:
        await _vacuum(engine, target, SETTLE_TIMEOUT)
    except Exception:
        logger.exception("could not vacuum %s after its refresh", target.relation)


async def _vacuum(engine: AsyncEngine, target: Slice, timeout: int) -> bool:
    view_name = target.relation
    key = locks.refresh_key(view_name)
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        if not await conn.scalar(locks.TRY_LOCK, {"key": key}):
            logger.info("vacuum of %s skipped: a refresh is running", view_name)
            return False
        try:
            await conn.execute(text(f"SET lock_timeout = '{LOCK_TIMEOUT}s'"))
            await conn.execute(text(f"SET statement_timeout = '{timeout}s'"))
            await conn.execute(queries.vacuum_statement(view_name))
        finally:
            await locks.release_session_lock(conn, key, reset=True)
    logger.info("vacuumed %s", view_name)
    return True


async def refresh_all(
    database_url: str | None = None, models: tuple[ReadModel, ...] = READ_MODELS
) -> list[RefreshOutcome]:
    """Refresh every slice of these read models (all by default) now: CLI, after a seed."""
    async with standalone_engine(database_url) as engine:
        return [await request_refresh(engine, target) for target in await every_slice(engine, models)]


async def every_slice(engine: AsyncEngine, models: tuple[ReadModel, ...] = READ_MODELS) -> list[Slice]:
    async with engine.connect() as conn:
        return [target for model in models for target in await slices_of(conn, model)]


async def refresh_tenant(engine: AsyncEngine, tenant_id: int) -> list[RefreshOutcome]:
    """Refresh the tenant's slice of every read model now (after a seed: the tenant's rows, no other's)."""
    await relearn_routes(engine, tenant_id)
    return [await request_refresh(engine, model.slice_of(tenant_id)) for model in READ_MODELS]
