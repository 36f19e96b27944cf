"""The OpenAPI contract holds: schemathesis, every check, its stateful phase, against `kith serve` on 127.0.0.1.

Two bounded runs: a fixed seed (reproducible) and a random one (printed, so a failure can be replayed
with `--seed`). Operation-specific expectations live in schemathesis.toml.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from kith.db.migrations import upgrade_async

ROOT = Path(__file__).resolve().parent.parent
SECONDS_PER_RUN = 45
KITH = [sys.executable, "-m", "kith"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
async def served(create_database: Callable, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A migrated database with a seeded tenant, served by `kith serve`; yields (base URL, token)."""
    url = await create_database("kith_contract")
    await upgrade_async(url)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "KITH_DATA_DIR": str(tmp_path_factory.mktemp("kith-contract")),
        "KITH_RATE_LIMIT_PER_ADDRESS": "1000000",
        "KITH_AUTH_FAILURES_PER_ADDRESS": "1000000",
        "KITH_LOG_FORMAT": "text",
        # Connecting Google only builds a URL to Google's consent page (no request is made); unset, it is a 503.
        "KITH_GOOGLE_CLIENT_ID": "contract-client",
        "KITH_GOOGLE_CLIENT_SECRET": "contract-secret",
    }
    env.pop("REDIS_URL", None)  # imports run in the server process: nothing else to start
    subprocess.run([*KITH, "seed", "--tenant", "contract", "--size", "small"], env=env, check=True, capture_output=True)
    token = subprocess.run(
        [*KITH, "token", "create", "--tenant", "contract"], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    import asyncpg

    from kith.db.urls import asyncpg_dsn

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:  # the fuzzer's pace is not what this run checks
        await conn.execute("UPDATE plans SET requests_per_minute = 1000000, max_queued_runs = 1000")
    finally:
        await conn.close()
    port = free_port()
    server = subprocess.Popen(
        [*KITH, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError("kith serve did not start")
        yield base, token
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize(
    "seed",
    [1, int(os.environ.get("KITH_CONTRACT_SEED") or random.randrange(1, 2**31))],
    ids=["fixed-seed", "random-seed"],
)
def test_schemathesis_finds_nothing(served: tuple[str, str], seed: int) -> None:
    base, token = served
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{base}/schema/openapi.json",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-time",
        str(SECONDS_PER_RUN),
        "--seed",
        str(seed),
        "--header",
        f"Authorization: Bearer {token}",
        "--no-color",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=SECONDS_PER_RUN * 4)
    assert result.returncode == 0, f"seed {seed}:\n{result.stdout[-20000:]}\n{result.stderr[-2000:]}"
