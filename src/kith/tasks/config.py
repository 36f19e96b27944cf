"""Job settings, from the environment (see the README's "Workers and scheduler")."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

QUEUES = ("sync", "compute")

# Every task has a timeout (seconds). A refresh's own statement_timeout (30 min) fires first,
# so a slow refresh ends as a recorded failure rather than a cancelled task.
SYNC_TIMEOUT = 3600
SCORE_TIMEOUT = 1800
REFRESH_TIMEOUT = 2100
VACUUM_TIMEOUT = 2100
RESCORE_TIMEOUT = 3600
CLEANUP_TIMEOUT = 600
# A worker renews its claim on a running task's message up to this long (the longest timeout
# plus a margin); after that the message may be redelivered like a dead worker's.
MAX_HOLD = 3900


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


@dataclass(frozen=True, slots=True)
class JobSettings:
    redis_url: str | None
    sync_concurrency: int
    compute_concurrency: int
    stream_maxlen: int
    result_ttl: int  # seconds
    redeliver_after: int  # seconds an unacknowledged task of a dead worker waits before another takes it
    max_deliveries: int  # a message delivered this often (it kills its workers) is dropped
    worker_stop_timeout: int  # seconds a stopping worker gives its running jobs before handing them back
    max_retries: int
    retry_delay: float
    retry_max_delay: float
    refresh_cron: str
    vacuum_cron: str
    rescore_cron: str
    cleanup_cron: str
    sync_run_retention_days: int


def queue_prefix() -> str:
    """KITH_QUEUE_PREFIX (default `kith`): every Redis key of the job queue starts with it.

    Read at each use, so one Redis can serve several deployments (or test runs) apart.
    """
    return os.environ.get("KITH_QUEUE_PREFIX") or "kith"


def stream(queue: str) -> str:
    """The Redis stream of a queue: `<KITH_QUEUE_PREFIX>:<queue>`."""
    return f"{queue_prefix()}:{queue}"


def result_prefix() -> str:
    """Job results are kept under `<KITH_QUEUE_PREFIX>:result:<task id>`."""
    return f"{queue_prefix()}:result"


@lru_cache(maxsize=1)
def job_settings() -> JobSettings:
    from kith.config import get_settings

    env = os.environ.get
    return JobSettings(
        redis_url=get_settings().redis_url,
        sync_concurrency=_int("KITH_SYNC_CONCURRENCY", 16),
        compute_concurrency=_int("KITH_COMPUTE_CONCURRENCY", 2),
        stream_maxlen=_int("KITH_STREAM_MAXLEN", 100_000),
        result_ttl=_int("KITH_RESULT_TTL", 24 * 3600),
        redeliver_after=_int("KITH_REDELIVER_AFTER", 60),
        max_deliveries=_int("KITH_MAX_DELIVERIES", 5),
        worker_stop_timeout=_int("KITH_WORKER_STOP_TIMEOUT", 20),
        max_retries=_int("KITH_TASK_MAX_RETRIES", 5),
        retry_delay=float(env("KITH_TASK_RETRY_DELAY") or 2),
        retry_max_delay=float(env("KITH_TASK_RETRY_MAX_DELAY") or 60),
        refresh_cron=env("KITH_REFRESH_CRON") or "*/5 * * * *",
        vacuum_cron=env("KITH_VACUUM_CRON") or "17 * * * *",
        rescore_cron=env("KITH_RESCORE_CRON") or "0 3 * * *",
        cleanup_cron=env("KITH_CLEANUP_CRON") or "30 3 * * *",
        sync_run_retention_days=_int("KITH_SYNC_RUN_RETENTION_DAYS", 90),
    )
