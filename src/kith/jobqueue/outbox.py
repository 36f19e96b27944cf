"""Asking for a job by name: a transactional outbox, so nothing accepted is lost.

A service records the job it needs (`request_job`) in the same transaction as
the work the job serves (a queued sync run and its job are one commit). After
the commit the caller sends it (`send_requested`): to the Redis queue, or run
in this process with no REDIS_URL; a sent request is deleted. If sending fails
(Redis unreachable, the process dies first) the row stays, and once its
`send_after` has passed the sweeper (`resend_due`, kith.jobqueue.sweeper: in the
API processes, the workers and the scheduler) sends it again; one whose send
failed is sent again as soon as the queue answers. Every job is idempotent, so a request sent
twice (a slow first send overtaken by the sweeper) does no harm.

Services import this module, never kith.tasks: a job is named
(kith.jobqueue.names), and found at send time among the jobs the process
defined (its entry point imports kith.tasks.jobs).
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from taskiq.kicker import AsyncKicker

from kith.config import get_settings
from kith.jobqueue.broker import current_broker, in_process
from kith.jobqueue.engine import bind_engine

logger = logging.getLogger(__name__)

_REQUESTED = "kith.job_requests"  # key of the session's (or connection's) `info`: ids requested in it

INSERT_REQUEST = text(
    """
    INSERT INTO job_requests (job_name, kwargs, send_after)
    VALUES (:job_name, CAST(:kwargs AS jsonb), clock_timestamp() + make_interval(secs => :resend_after))
    RETURNING id
    """
)
# Requests made in a transaction that committed (a rolled-back one left no row to find).
FIND_REQUESTS = text("SELECT id, job_name, kwargs FROM job_requests WHERE id = ANY(CAST(:ids AS bigint[]))")
# Claimed by pushing send_after on, so two sweepers never send one request at the same moment.
CLAIM_DUE = text(
    """
    UPDATE job_requests SET send_after = clock_timestamp() + make_interval(secs => :resend_after),
                            attempts = attempts + 1
    WHERE id IN (SELECT id FROM job_requests WHERE send_after <= clock_timestamp()
                 ORDER BY send_after LIMIT :limit FOR UPDATE SKIP LOCKED)
    RETURNING id, job_name, kwargs
    """
)
# Requests whose last send failed (Redis was unreachable), whatever their bound: the queue is back.
CLAIM_FAILED = text(
    """
    UPDATE job_requests SET send_after = clock_timestamp() + make_interval(secs => :resend_after),
                            attempts = attempts + 1, error = NULL
    WHERE id IN (SELECT id FROM job_requests WHERE error IS NOT NULL
                 ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED)
    RETURNING id, job_name, kwargs
    """
)
DELETE_SENT = text("DELETE FROM job_requests WHERE id = :id")
RECORD_FAILURE = text("UPDATE job_requests SET error = :error WHERE id = :id")


async def request_job(session: AsyncSession | AsyncConnection, job_name: str, **kwargs: Any) -> int:
    """Record that `job_name(**kwargs)` must run once the caller's transaction commits; returns its id.

    The caller sends it after the commit (`send_requested(engine, take_requested(session))`).
    """
    params = {
        "job_name": job_name,
        "kwargs": msgspec.json.encode(kwargs).decode(),
        "resend_after": get_settings().jobs.resend_after,
    }
    request_id = (await session.execute(INSERT_REQUEST, params)).scalar_one()
    session.info.setdefault(_REQUESTED, []).append(request_id)
    return request_id


def take_requested(session: AsyncSession | AsyncConnection) -> list[int]:
    """The ids of the jobs requested on `session` so far (forgotten by the session)."""
    return session.info.pop(_REQUESTED, [])


async def send_requested(engine: AsyncEngine, request_ids: list[int]) -> None:
    """Send requests whose transaction committed. A failure is logged and left to the sweeper.

    With no REDIS_URL the job runs here, on `engine`, and is done when this returns.
    """
    if not request_ids:
        return
    async with engine.connect() as conn:
        rows = (await conn.execute(FIND_REQUESTS, {"ids": request_ids})).all()
    await _send_all(engine, rows)


async def send_job(engine: AsyncEngine, job_name: str, **kwargs: Any) -> None:
    """Request a job in a transaction of its own, then send it: for work committed already."""
    async with engine.begin() as conn:
        await request_job(conn, job_name, **kwargs)
        requested = take_requested(conn)
    await send_requested(engine, requested)


async def claim_due(engine: AsyncEngine, limit: int = 100, *, failed: bool = False) -> list[Any]:
    """Requests past their `send_after` (never sent), or (`failed`) those whose send failed, claimed for
    one more `resend_after`."""
    async with engine.begin() as conn:
        params = {"resend_after": get_settings().jobs.resend_after, "limit": limit}
        return list((await conn.execute(CLAIM_FAILED if failed else CLAIM_DUE, params)).all())


async def resend_due(engine: AsyncEngine, limit: int = 100, *, failed: bool = False) -> int:
    """The sweeper: send the requests left unsent past their bound (or, `failed`, those whose send
    failed). Returns how many were sent."""
    return await _send_all(engine, await claim_due(engine, limit, failed=failed))


async def _send_all(engine: AsyncEngine, rows: list[Any]) -> int:
    sent = 0
    for row in rows:
        try:
            await _send(engine, row.job_name, row.kwargs)
        except Exception as exc:
            error = _describe(exc)
            logger.warning("job %s (request %s) not sent, the sweeper will: %s", row.job_name, row.id, error)
            async with engine.begin() as conn:
                await conn.execute(RECORD_FAILURE, {"id": row.id, "error": error})
            continue
        async with engine.begin() as conn:
            await conn.execute(DELETE_SENT, {"id": row.id})
        sent += 1
    return sent


def _describe(exc: BaseException) -> str:
    """The error and what caused it (taskiq wraps the broker's own error), one line."""
    causes = [exc]
    while (cause := causes[-1].__cause__) is not None and len(causes) < 5:
        causes.append(cause)
    return " ← ".join(f"{type(e).__name__}: {e}" for e in causes)[:2000]


async def _send(engine: AsyncEngine, job_name: str, kwargs: dict[str, Any]) -> None:
    broker = current_broker()
    task = broker.find_task(job_name)
    if task is None:
        raise LookupError(f"no job named {job_name!r} is defined in this process (import kith.tasks.jobs)")
    kicker = AsyncKicker(task_name=job_name, broker=broker, labels=dict(task.labels))
    with bind_engine(engine if in_process() else None):
        await kicker.kiq(**kwargs)
