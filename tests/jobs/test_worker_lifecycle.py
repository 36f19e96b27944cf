"""`kith worker` on SIGTERM: exits within its bound, however it was started (`uv run` too), and the job it
could not finish is handed back (another worker completes it). Job results live under KITH_QUEUE_PREFIX.

Run when REDIS_URL is set (CI sets it); skipped otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time

import pytest
from tests.jobs.conftest import add_contacts, view_names

from kith.readmodels.models import CONTACT_CARDS
from kith.tasks import jobs

CARDS = CONTACT_CARDS.hash_slices()[1].relation  # the slice of the tenant add_contacts makes first

STOP_TIMEOUT = 2
# The stop timeout, broker shutdown (5 s), the process manager's 1 s poll and a margin for a loaded machine.
EXIT_BOUND = STOP_TIMEOUT + 5 + 1 + 5

STARTERS = {
    "python": None,
    "uv run": ("uv", "run", "--no-sync", "kith"),
}


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    # Zombies count as gone: ask ps who is still running in the group.
    out = subprocess.run(["ps", "-o", "stat=", "-g", str(pgid)], capture_output=True, text=True).stdout.split()
    return any(not stat.startswith("Z") for stat in out)


@pytest.mark.parametrize("starter", STARTERS)
async def test_sigterm_stops_a_busy_worker_within_its_bound_and_hands_its_job_back(
    jobs_db, gate, redis_jobs, workers, starter
):
    if starter == "uv run" and shutil.which("uv") is None:
        pytest.fail("uv is not on PATH")
    command = STARTERS[starter]
    await add_contacts(jobs_db, ["Ada Lovelace"])
    extra = {"command": command} if command else {}
    busy = workers.start(
        "compute", jobs_db, KITH_REDELIVER_AFTER="2", KITH_WORKER_STOP_TIMEOUT=str(STOP_TIMEOUT), **extra
    )
    await gate.close()
    task = await jobs.refresh.kiq(CARDS)
    await gate.wait_entered(1)  # the worker is inside a refresh that will not finish by itself

    started = time.monotonic()
    busy.send_signal(signal.SIGTERM)  # to the process started, only (as a supervisor does), not its group
    with contextlib.suppress(subprocess.TimeoutExpired):
        await asyncio.to_thread(busy.wait, EXIT_BOUND)
    while group_alive(busy.pid) and time.monotonic() - started < EXIT_BOUND:
        await asyncio.sleep(0.1)
    took = time.monotonic() - started
    assert not group_alive(busy.pid), f"worker processes still running after {took:.1f}s\n{workers.logs()}"
    assert took < EXIT_BOUND, workers.logs()

    await gate.open()
    workers.start("compute", jobs_db, KITH_REDELIVER_AFTER="2")
    result = await task.wait_result(timeout=30)
    assert not result.is_err, workers.logs()
    assert "Ada Lovelace" in await view_names(jobs_db)


async def test_job_results_are_kept_under_the_queue_prefix(jobs_db, redis_url, queue_prefix, redis_jobs, workers):
    from redis.asyncio import Redis

    workers.start("compute", jobs_db)
    task = await jobs.refresh.kiq(CARDS)
    result = await task.wait_result(timeout=30)
    assert not result.is_err, workers.logs()
    async with Redis.from_url(redis_url) as redis:
        assert await redis.exists(f"{queue_prefix}:result:{task.task_id}") == 1
        assert await redis.exists(f"kith:result:{task.task_id}") == 0
        await redis.delete(f"{queue_prefix}:result:{task.task_id}")
