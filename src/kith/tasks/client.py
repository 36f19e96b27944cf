"""Sending jobs, from the API, the CLI or anywhere: call these after the transaction that
makes the work visible has committed (a worker may start on it at once)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from kith.tasks import jobs
from kith.tasks.broker import in_process
from kith.tasks.deps import bind_engine

__all__ = ["enqueue_refresh", "enqueue_score", "enqueue_sync_run", "in_process"]


async def enqueue_sync_run(sync_run_id: int, *, engine: AsyncEngine | None = None) -> str:
    """Send the chain of a committed run (sync → score → refresh). Returns the task id.

    With no REDIS_URL the chain runs here and is done when this returns (the API
    calls this from a background task, after its response), on `engine` (the API
    passes its own). With Redis it returns once the job is queued; `engine` is
    ignored (workers use theirs).
    """
    with bind_engine(engine if in_process() else None):
        task = await jobs.sync.kiq(sync_run_id)
    return task.task_id


async def enqueue_refresh(view_name: str, *, engine: AsyncEngine | None = None) -> str:
    from kith.readmodels.refresh import check_view

    check_view(view_name)
    with bind_engine(engine if in_process() else None):
        task = await jobs.refresh.kiq(view_name)
    return task.task_id


async def enqueue_score(sync_run_id: int, *, engine: AsyncEngine | None = None) -> str:
    """Send the rest of the chain of a run imported in this process (`kith import` reads a local file)."""
    with bind_engine(engine if in_process() else None):
        task = await jobs.score.kiq(sync_run_id)
    return task.task_id
