"""`kith worker --queue sync|compute`: taskiq's worker (its process manager, signals and
graceful shutdown) on one queue of the Redis broker."""

from __future__ import annotations

import asyncio
import logging
import os

from taskiq import AsyncBroker, TaskiqEvents, TaskiqState
from taskiq.cli.worker.args import WorkerArgs
from taskiq.cli.worker.run import run_worker as taskiq_run_worker

from kith.config import QUEUES, get_settings
from kith.db.engine import database_url
from kith.jobqueue import outbox
from kith.jobqueue.broker import make_broker, stream, use_broker

logger = logging.getLogger(__name__)


def run_worker(queue: str, processes: int, concurrency: int | None) -> int:
    settings = get_settings().jobs
    if not settings.redis_url:
        raise RuntimeError("kith worker needs REDIS_URL; without it jobs run inside the API and `kith import`")
    if concurrency is None:
        concurrency = settings.sync_concurrency if queue == "sync" else settings.compute_concurrency
    # Resolved once here (the embedded server is started if need be); the worker processes inherit it.
    os.environ["DATABASE_URL"] = database_url()
    os.environ["KITH_WORKER_QUEUE"] = queue
    get_settings.cache_clear()  # the worker processes (forked) read the settings again, with these
    args = WorkerArgs.from_cli(
        [
            "kith.tasks.worker:worker_broker",
            "kith.tasks.jobs",
            "--workers",
            str(processes),
            "--max-async-tasks",
            str(concurrency),
            "--ack-type",
            "when_saved",
            "--shutdown-timeout",
            "10",
            # On SIGTERM running tasks get this long; the rest are redelivered (every job is idempotent).
            "--wait-tasks-timeout",
            "30",
        ]
    )
    return taskiq_run_worker(args) or 0


def worker_broker() -> AsyncBroker:
    """The broker `taskiq worker` runs (what `kith worker` starts): Redis, reading the queue in KITH_WORKER_QUEUE.

    On start-up it sends the jobs requested but left unsent (kith.jobqueue.outbox), in the background.
    """
    settings = get_settings().jobs
    if settings.worker_queue not in QUEUES:
        raise RuntimeError(f"KITH_WORKER_QUEUE must be one of {', '.join(QUEUES)}, got {settings.worker_queue!r}")
    if not settings.redis_url:
        raise RuntimeError("workers need REDIS_URL; without it jobs run inside the process that sends them")
    broker = make_broker()
    broker.queue_name = stream(settings.worker_queue)  # type: ignore[attr-defined]
    use_broker(broker)

    @broker.on_event(TaskiqEvents.WORKER_STARTUP)
    async def resend_unsent(state: TaskiqState) -> None:
        state.kith_resend = asyncio.get_running_loop().create_task(_resend(state.kith_engine))

    return broker


async def _resend(engine) -> None:
    try:
        sent = await outbox.resend_due(engine)
    except Exception:
        logger.exception("could not send the jobs left unsent")
        return
    if sent:
        logger.info("sent %d job(s) requested but left unsent", sent)
