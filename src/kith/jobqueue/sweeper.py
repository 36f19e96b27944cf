"""The outbox's sweeper, run by every process that sends jobs: API processes, workers, the scheduler.

So an outage of the queue needs nothing but the processes already running to recover: requests whose
send failed are sent the moment the queue answers again (checked every RECONNECT_POLL seconds), and
requests left unsent for any other reason (a process died between commit and send) once past their
bound (KITH_JOB_RESEND_AFTER), checked every half of it. Claims are atomic (kith.jobqueue.outbox),
so many sweepers never send one request at the same moment.
"""

from __future__ import annotations

import asyncio
import logging
from time import monotonic

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from kith.config import get_settings
from kith.jobqueue import outbox
from kith.jobqueue.broker import KithStreamBroker, current_broker

logger = logging.getLogger(__name__)

RECONNECT_POLL = 2.0


async def sweep_unsent_jobs(engine: AsyncEngine, *, poll: float = RECONNECT_POLL) -> None:
    """Run until cancelled; never raises (the database or the queue away is tried again next round)."""
    interval = max(1.0, get_settings().jobs.resend_after / 2)
    broker = current_broker()
    queue = (
        Redis.from_url(broker.url, socket_connect_timeout=1, socket_timeout=1)
        if isinstance(broker, KithStreamBroker)
        else None
    )
    reachable, next_sweep = True, 0.0
    try:
        while True:
            was_reachable, reachable = reachable, await _answers(queue)
            try:
                if reachable and not was_reachable:
                    sent = await outbox.resend_due(engine, failed=True)
                    logger.warning("job queue reachable again: sent %d job(s) whose send had failed", sent)
                if reachable and monotonic() >= next_sweep:
                    next_sweep = monotonic() + interval
                    if sent := await outbox.resend_due(engine):
                        logger.info("sent %d job(s) requested but left unsent", sent)
            except Exception as exc:
                logger.warning("could not send the jobs left unsent: %s", exc)
            await asyncio.sleep(poll)
    finally:
        if queue is not None:
            await queue.aclose()


async def _answers(queue: Redis | None) -> bool:
    if queue is None:  # jobs run in-process: nothing to reach
        return True
    try:
        await queue.ping()
    except Exception:
        return False
    return True
