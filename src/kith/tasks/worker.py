"""`kith worker --queue sync|compute`: taskiq's worker (its process manager, signals and
graceful shutdown) on one queue of the Redis broker."""

from __future__ import annotations

import os

from kith.tasks.config import job_settings


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
            "10",
            # On SIGTERM running tasks get this long; the rest are redelivered (every job is idempotent).
            "--wait-tasks-timeout",
            "30",
        ]
    )
    return taskiq_run_worker(args) or 0
