"""`kith worker --queue sync|compute`: taskiq's worker (its process manager and worker processes) on one
queue of the Redis broker, stopped within a bound.

On SIGTERM or SIGINT (sent to this process alone, as a supervisor or `uv run` does, or to its whole
group) the running jobs get KITH_WORKER_STOP_TIMEOUT seconds to finish. A job still running then is
handed back: its message is not acknowledged, so another worker takes it over after
KITH_REDELIVER_AFTER seconds (every job is idempotent). A worker process still alive past the bound
(a thread stuck in a blocking call keeps an interpreter from exiting) is killed.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import time

from taskiq import AsyncBroker, TaskiqEvents, TaskiqState
from taskiq.cli.worker.args import WorkerArgs
from taskiq.cli.worker.run import run_worker as taskiq_run_worker

from kith.config import QUEUES, get_settings
from kith.db.engine import database_url
from kith.jobqueue.broker import make_broker, stream, use_broker
from kith.jobqueue.sweeper import sweep_unsent_jobs

logger = logging.getLogger(__name__)

BROKER_SHUTDOWN_TIMEOUT = 5
# Beyond the stop timeout and the broker's shutdown: the manager's one-second poll, and a process exiting.
EXIT_MARGIN = 2


def run_worker(queue: str, processes: int, concurrency: int | None) -> int:
    settings = get_settings().jobs
    if not settings.redis_url:
        raise RuntimeError("kith worker needs REDIS_URL; without it jobs run inside the API and `kith import`")
    if concurrency is None:
        concurrency = settings.sync_concurrency if queue == "sync" else settings.compute_concurrency
    # Resolved once here (the embedded server is started if need be); the worker processes inherit it.
    os.environ["DATABASE_URL"] = database_url()
    os.environ["KITH_WORKER_QUEUE"] = queue
    os.environ["KITH_DB_PROCESSES"] = str(processes)  # they share KITH_DB_CONNECTIONS (kith.db.budget)
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
            str(BROKER_SHUTDOWN_TIMEOUT),
            "--wait-tasks-timeout",
            str(settings.worker_stop_timeout),
        ]
    )
    status = taskiq_run_worker(args) or 0
    # The manager has asked its worker processes to stop and returned at once; wait for them, within the bound.
    _reap_workers(time.monotonic() + settings.worker_stop_timeout + BROKER_SHUTDOWN_TIMEOUT + EXIT_MARGIN)
    return status


def _reap_workers(deadline: float) -> None:
    for child in multiprocessing.active_children():
        child.join(max(0.0, deadline - time.monotonic()))
    for child in multiprocessing.active_children():
        child.kill()
        child.join()


def worker_broker() -> AsyncBroker:
    """The broker `taskiq worker` runs (what `kith worker` starts): Redis, reading the queue in KITH_WORKER_QUEUE.

    From start-up on it runs the outbox's sweeper (kith.jobqueue.sweeper), in the background: jobs left
    unsent are sent once the queue answers, with no scheduler needed.
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
    async def sweep(state: TaskiqState) -> None:
        state.kith_sweeper = asyncio.get_running_loop().create_task(sweep_unsent_jobs(state.kith_engine))

    @broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
    async def stop_sweeping(state: TaskiqState) -> None:
        if (sweeper := getattr(state, "kith_sweeper", None)) is not None:
            sweeper.cancel()

    return broker
