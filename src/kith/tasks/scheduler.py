"""`kith scheduler`: taskiq's scheduler on the jobs' cron labels, one active at a time.

Two schedulers started by mistake must not send a job twice. Each scheduler
first takes a PostgreSQL session-level advisory lock (on a connection it keeps
open); the one that gets it sends the jobs, the others stand by and take over
when it goes away (its connection closes and the server releases the lock). A
scheduler that loses its connection stops sending before anyone can take over.
A new leader skips the minute it starts in (the old one may have sent it).

The leader also runs the outbox's sweeper (kith.jobqueue.sweeper), as API
processes and workers do: jobs requested but left unsent are sent once past
KITH_JOB_RESEND_AFTER, or as soon as the queue answers again.

On top of that the jobs themselves cannot overlap: refreshes coalesce on their
per-view lock, rescore and cleanup run under a per-job advisory lock, vacuum
under the view's refresh key.

With no REDIS_URL the jobs run inside the scheduler process.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool
from taskiq import TaskiqScheduler
from taskiq.cli.scheduler.run import SchedulerLoop
from taskiq.schedule_sources import LabelScheduleSource

from kith.db import locks
from kith.db.engine import database_url
from kith.db.urls import sqlalchemy_url
from kith.jobqueue.broker import current_broker, jobs
from kith.jobqueue.sweeper import sweep_unsent_jobs
from kith.tasks import jobs as _  # noqa: F401 - defines the jobs and their schedules

logger = logging.getLogger("kith.scheduler")

CHECK_INTERVAL = 5.0
STANDBY_POLL = 5.0


async def run_scheduler(*, check_interval: float = CHECK_INTERVAL, standby_poll: float = STANDBY_POLL) -> None:
    # The schedules are the labels of the jobs (defined on `jobs`); they are sent through the broker.
    source = LabelScheduleSource(jobs)
    scheduler = TaskiqScheduler(current_broker(), sources=[source])
    engine = create_async_engine(sqlalchemy_url(database_url()), poolclass=NullPool)
    # Two connections in all: the leadership lock's and the sweeper's (the jobs run in workers, or in-process
    # on their own engine).
    jobs_engine = create_async_engine(sqlalchemy_url(database_url()), pool_pre_ping=True, pool_size=1, max_overflow=0)
    try:
        while True:
            async with engine.connect() as conn:
                await _wait_for_leadership(conn, standby_poll)
                logger.info(
                    "leading: sending scheduled jobs (%s)",
                    ", ".join(f"{s.task_name} '{s.cron}'" for s in await _schedules(source)),
                )
                await scheduler.startup()
                loop = asyncio.create_task(SchedulerLoop(scheduler).run(skip_first_run=True))
                sweeper = asyncio.create_task(sweep_unsent_jobs(jobs_engine))
                try:
                    await _hold_leadership(conn, loop, check_interval)
                finally:
                    loop.cancel()
                    sweeper.cancel()
                    await asyncio.gather(loop, sweeper, return_exceptions=True)
                    await scheduler.shutdown()
            logger.warning("lost the scheduler lock's connection; standing by again")
    finally:
        await engine.dispose()
        await jobs_engine.dispose()


async def _schedules(source):
    await source.startup()
    return await source.get_schedules()


async def _wait_for_leadership(conn: AsyncConnection, poll: float) -> None:
    said = False
    while True:
        got = await conn.scalar(locks.TRY_LOCK, {"key": locks.SCHEDULER_KEY})
        await conn.commit()  # hold the lock on an idle connection, not in an open transaction
        if got:
            return
        if not said:
            logger.info("another scheduler is active; standing by")
            said = True
        await asyncio.sleep(poll)


async def _hold_leadership(conn: AsyncConnection, loop: asyncio.Task, interval: float) -> None:
    """Return when the scheduler loop ends or the lock's connection fails."""
    while not loop.done():
        await asyncio.sleep(interval)
        try:
            await asyncio.wait_for(conn.scalar(text("SELECT 1")), timeout=interval)
            await conn.commit()
        except Exception as exc:
            logger.error("scheduler lock connection failed: %s", exc)
            return
    loop.result()  # re-raise what ended it
