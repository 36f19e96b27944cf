"""`kith worker --queue sync|compute`: taskiq's worker (its process manager and worker processes) on one
queue of the Redis broker, stopped within a bound.

On SIGTERM or SIGINT (sent to this process alone, as a supervisor or `uv run` does, or to its whole
group) the running jobs get KITH_WORKER_STOP_TIMEOUT seconds to finish. A job still running then is
handed back: its message is not acknowledged, so another worker takes it over after
KITH_REDELIVER_AFTER seconds (every job is idempotent). A worker process still alive past the bound
(a thread stuck in a blocking call keeps an interpreter from exiting) is killed.
"""

from __future__ import annotations

import multiprocessing
import os
import time

from kith.tasks.config import job_settings

BROKER_SHUTDOWN_TIMEOUT = 5
# Beyond the stop timeout and the broker's shutdown: the manager's one-second poll, and a process exiting.
EXIT_MARGIN = 2


def run_worker(queue: str, processes: int, concurrency: int | None) -> int:
    from taskiq.cli.worker.args import WorkerArgs
    from taskiq.cli.worker.run import run_worker as taskiq_run_worker

    from kith.db.engine import database_url
    from kith.tasks.broker import WORKER_QUEUE_ENV

    settings = job_settings()
    if not settings.redis_url:
        raise RuntimeError("kith worker needs REDIS_URL; without it jobs run inside the API and `kith import`")
    if concurrency is None:
        concurrency = settings.sync_concurrency if queue == "sync" else settings.compute_concurrency
    # Resolved once here (the embedded server is started if need be); the worker processes inherit it.
    os.environ["DATABASE_URL"] = database_url()
    os.environ[WORKER_QUEUE_ENV] = queue
    args = WorkerArgs.from_cli(
        [
            "kith.tasks.broker:worker_broker",
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
