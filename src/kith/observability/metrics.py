"""Kith's own Prometheus metrics (requests by route and status are counted in kith.observability.requests).

Under `kith serve --workers N` the processes write to PROMETHEUS_MULTIPROC_DIR (the CLI sets one) and
/metrics adds them up. Jobs run by `kith worker` count in that process: they reach /metrics only when
the worker shares the API's PROMETHEUS_MULTIPROC_DIR (same machine).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import event
from sqlalchemy.engine import Engine

# What Litestar's PrometheusMiddleware recorded (same names, labels and buckets), now counted in Kith's own
# request pass (kith.observability.requests): one pass instead of two, each label set bound once.
_REQUEST_LABELS = ["method", "path", "status_code", "app_name"]
REQUESTS = Counter("kith_requests_total", "Total requests", _REQUEST_LABELS)
REQUEST_SECONDS = Histogram("kith_request_duration_seconds", "Request duration, in seconds", _REQUEST_LABELS)
REQUESTS_IN_PROGRESS = Gauge(
    "kith_requests_in_progress", "Total requests currently in progress", _REQUEST_LABELS, multiprocess_mode="livesum"
)
REQUEST_ERRORS = Counter("kith_requests_error_total", "Total errors in requests", _REQUEST_LABELS)
SQL_STATEMENTS = Histogram(
    "kith_sql_statements_per_request",
    "SQL statements a request executed (token look-up included).",
    ["path"],
    buckets=(0, 1, 2, 3, 4, 6, 10, 20, 50),
)
SYNC_ROWS = Counter("kith_sync_rows_total", "Records a sync run saw, by source and outcome.", ["source", "outcome"])
SYNC_SECONDS = Histogram(
    "kith_sync_seconds", "Duration of sync runs, by source.", ["source"], buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 1800)
)
REFRESH_SECONDS = Histogram(
    "kith_refresh_seconds", "Duration of read-model refreshes.", ["view"], buckets=(0.01, 0.1, 0.5, 1, 5, 30, 120)
)
AS_OF_AGE = Gauge(
    "kith_read_model_as_of_age_seconds",
    "Age of each read model's last refresh (read when /metrics is scraped).",
    ["view"],
    multiprocess_mode="max",
)
QUEUE_DEPTH = Gauge(
    "kith_sync_runs_waiting",
    "Sync runs queued or running (read when /metrics is scraped).",
    ["status"],
    multiprocess_mode="max",
)
LIMITS_SHARED = Gauge(
    "kith_limits_shared",
    "1 while rate-limit counts live in Redis (shared by every API process), 0 while Redis is unreachable "
    "and each process counts on its own.",
    multiprocess_mode="min",
)
LIMITS_FALLBACKS = Counter(
    "kith_limits_fallbacks_total", "Times the limits lost Redis and fell back to per-process counts."
)
CACHE_REQUESTS = Counter("kith_cache_requests_total", "Look-ups in process caches.", ["cache", "result"])

# The statements of the current request (a one-element list, so the event can add to it).
_statements: ContextVar[list[int] | None] = ContextVar("kith_statements", default=None)


def count_statements() -> list[int]:
    cell = [0]
    _statements.set(cell)
    return cell


@event.listens_for(Engine, "before_cursor_execute")
def _count(*_args: object) -> None:
    if (cell := _statements.get()) is not None:
        cell[0] += 1


def record_sync(source: str, seconds: float, run: Any) -> None:
    SYNC_SECONDS.labels(source).observe(seconds)
    for outcome in ("inserted", "updated", "skipped", "failed"):
        SYNC_ROWS.labels(source, outcome).inc(getattr(run, f"rows_{outcome}") or 0)


def cache_counter(cache: str, hit: bool) -> Counter:
    """The counter of a process cache's hits or misses (bound once: a look-up only adds 1)."""
    return CACHE_REQUESTS.labels(cache, "hit" if hit else "miss")
