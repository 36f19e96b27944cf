"""Redis is optional at run time: while it is down the API keeps answering (limits counted per process,
uploads accepted into the outbox, /ready degraded), and once it is back the workers alone drain the outbox.

The test starts a `redis-server` of its own on a free port and stops it mid-run (run when REDIS_URL is
set, as every Redis test; CI sets it and has the server).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from redis import Redis
from tests.jobs.conftest import Workers, wait_until
from tests.jobs.test_outbox import DATA, _fetch, _finished, _token

from kith.app import create_app
from kith.config import get_settings
from kith.jobqueue.broker import make_broker, use_broker


class RedisServer:
    """A `redis-server` of the test's own (no persistence: a restart comes back empty, as after a crash)."""

    def __init__(self, tmp_path: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = tmp_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(Exception), Redis.from_url(self.url) as redis:
                if redis.ping():
                    return
            if time.monotonic() > deadline:
                raise AssertionError("redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def own_redis(redis_url: str, tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        raise AssertionError("REDIS_URL is set but redis-server is not on PATH (CI installs it)")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def on_own_redis(own_redis: RedisServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisServer]:
    """This process (the API under test) on the test's Redis: jobs, limits (shared counts) and settings."""
    monkeypatch.setenv("REDIS_URL", own_redis.url)
    monkeypatch.setenv("KITH_LIMITS_STORE", "redis")
    monkeypatch.setenv("KITH_LIMITS_NAMESPACE", f"kith_test_{uuid.uuid4().hex[:8]}")
    # Rate limits take hits from batches reserved in Redis (kith.limits.reserved): batches of one here,
    # so the first request after Redis stops needs it, as a busy process soon would.
    monkeypatch.setenv("KITH_RATE_LIMIT_PER_ADDRESS", "63")
    monkeypatch.setenv("KITH_QUEUE_PREFIX", f"kith-test-{uuid.uuid4().hex[:10]}")
    get_settings.cache_clear()
    previous = use_broker(make_broker(redis_url=own_redis.url))
    yield own_redis
    use_broker(previous)
    get_settings.cache_clear()


async def test_the_api_keeps_working_while_redis_is_down_and_the_workers_drain_the_outbox_once_it_is_back(
    jobs_db, on_own_redis, tmp_path, caplog
):
    token = await _token(jobs_db)
    headers = {"Authorization": f"Bearer {token}"}
    workers = Workers(tmp_path, {**os.environ, "KITH_DATA_DIR": str(tmp_path / "kith"), "PYTHONUNBUFFERED": "1"})
    try:
        # The workers are up before, during and after the outage; nobody runs `kith scheduler`.
        workers.start("sync", jobs_db)
        workers.start("compute", jobs_db)
        async with AsyncTestClient(app=create_app(jobs_db)) as client:
            assert (await client.get("/api/v1/contacts", headers=headers)).status_code == 200
            assert (await client.get("/ready")).json()["status"] == "ready"

            on_own_redis.stop()
            kith_logs = logging.getLogger("kith")  # Kith's loggers do not propagate to the root
            kith_logs.addHandler(caplog.handler)
            try:
                assert (await client.get("/")).status_code == 200
                listing = await client.get("/api/v1/contacts", headers=headers)
                assert listing.status_code == 200, listing.text
                assert "ratelimit-limit" in listing.headers  # still limited, counted in this process
                created = await client.post("/api/v1/contacts", headers=headers, json={"full_name": "Ada Lovelace"})
                assert created.status_code == 201, created.text
                upload = await client.post(
                    "/api/v1/sync/vcard",
                    headers=headers,
                    files={"file": ("contacts.vcf", (DATA / "contacts.vcf").read_bytes(), "text/vcard")},
                )
                assert upload.status_code == 202, upload.text
                for _ in range(5):
                    assert (await client.get("/api/v1/contacts", headers=headers)).status_code == 200
            finally:
                kith_logs.removeHandler(caplog.handler)
            said = [r.getMessage() for r in caplog.records if r.name == "kith.limits.fallback"]
            assert len(said) == 1, said  # stated once, not per request
            ready = await client.get("/ready")
            assert ready.status_code == 200
            assert ready.json()["status"] == "degraded" and ready.json()["redis"].startswith("unreachable")
            assert "kith_limits_shared 0.0" in (await client.get("/metrics")).text
        run_id = upload.json()["id"]
        assert (await _fetch(jobs_db, "SELECT status FROM sync_runs WHERE id = $1", run_id))["status"] == "queued"

        # Redis is back (empty: no streams, no consumer groups), the API is gone, the resend bound (60 s)
        # is far off: the workers notice the reconnection and send what was left unsent.
        on_own_redis.start()
        await wait_until(lambda: _finished(jobs_db), 45, "the workers to drain the outbox and run the chain")
    except BaseException:
        print(workers.logs())
        raise
    finally:
        workers.stop_all()
    assert (await _fetch(jobs_db, "SELECT count(*) AS n FROM job_requests"))["n"] == 0
