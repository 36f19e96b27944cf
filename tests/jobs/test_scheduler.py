"""Two `kith scheduler` processes started by mistake: each scheduled job is sent once; the standby takes over.

Needs Redis (the sent jobs are counted on the queue) and waits for one minute boundary (cron has minutes).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import msgspec
from redis.asyncio import Redis

EVERY_MINUTE = {f"KITH_{name}_CRON": "* * * * *" for name in ("REFRESH", "VACUUM", "RESCORE", "CLEANUP")}


def _start(tmp_path, n: int, env: dict) -> tuple[subprocess.Popen, object]:
    log = tmp_path / f"scheduler-{n}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kith", "scheduler"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return proc, log


async def _wait_for(log, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not in {log.name}:\n{log.read_text(errors='replace')}")
        await asyncio.sleep(0.1)


async def _sent(redis_url: str, prefix: str) -> Counter:
    async with Redis.from_url(redis_url) as redis:
        entries = await redis.xrange(f"{prefix}:compute")
    return Counter(msgspec.json.decode(fields[b"data"])["task_name"] for _, fields in entries)


async def test_two_schedulers_send_each_job_once(jobs_db, redis_url, queue_prefix, tmp_path):
    env = {
        **os.environ,
        **EVERY_MINUTE,
        "DATABASE_URL": jobs_db,
        "REDIS_URL": redis_url,
        "KITH_QUEUE_PREFIX": queue_prefix,
        "KITH_DATA_DIR": str(tmp_path / "kith"),
        "PYTHONUNBUFFERED": "1",
    }
    procs = []
    try:
        # Not right before a minute boundary: both must be up (one leading, one standing by) when it comes.
        now = dt.datetime.now()
        if now.second > 45:
            await asyncio.sleep(61 - now.second)
        procs = [_start(tmp_path, n, env) for n in range(2)]
        for _, log in procs:
            await _wait_for(log, "kith.scheduler", 20)
        await asyncio.sleep(1)
        logs = [log.read_text() for _, log in procs]
        assert sum("leading" in text for text in logs) == 1, logs
        assert sum("standing by" in text for text in logs) == 1, logs

        # The next minute boundary, and a little more.
        await asyncio.sleep(61 - dt.datetime.now().second + 3)
        sent = await _sent(redis_url, queue_prefix)
        assert sent == Counter(
            {
                "kith.refresh_views": 1,
                "kith.vacuum_views": 1,
                "kith.rescore": 1,
                "kith.cleanup": 1,
                "kith.sync_connections": 1,
            }
        ), (sent, [log.read_text() for _, log in procs])

        # The leader dies: the other one takes over.
        leader, standby = procs if "leading" in logs[0] else procs[::-1]
        os.killpg(leader[0].pid, signal.SIGKILL)
        leader[0].wait()
        await _wait_for(standby[1], "leading", 20)
    finally:
        for proc, _ in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
