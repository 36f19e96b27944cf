"""A client chooses its headers, not its address: `X-Forwarded-For` counts only from KITH_TRUSTED_PROXIES
(default none), so limits count the real peer of `kith serve`."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from tests.limits.conftest import until_serving

from kith.config import read_settings

BAD = {"Authorization": "Bearer kith_not-a-token"}


@contextlib.contextmanager
def kith_serve(db: str, tmp_path, **env: str) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "kith", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, "DATABASE_URL": db, "KITH_DATA_DIR": str(tmp_path), "KITH_LIMITS_STORE": "memory", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


async def bad_token_statuses(base: str, spoofed: list[str]) -> list[int]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        await until_serving(client)
        return [
            (await client.get("/api/v1/contacts", headers={**BAD, "X-Forwarded-For": address})).status_code
            for address in spoofed
        ]


SPOOFED = [f"203.0.113.{i}" for i in range(1, 7)]


async def test_forwarded_headers_are_ignored_unless_the_peer_is_a_trusted_proxy(db, tmp_path):
    budget = {"KITH_AUTH_FAILURES_PER_ADDRESS": "3"}
    with kith_serve(db, tmp_path, **budget) as base:  # no trusted proxy: the peer (127.0.0.1) is counted
        assert await bad_token_statuses(base, SPOOFED) == [401] * 3 + [429] * 3
    with kith_serve(db, tmp_path, KITH_TRUSTED_PROXIES="127.0.0.1", **budget) as base:  # behind a proxy here
        assert await bad_token_statuses(base, SPOOFED) == [401] * 6  # each forwarded client counted apart
    with kith_serve(db, tmp_path, KITH_TRUSTED_PROXIES="10.0.0.0/8", **budget) as base:  # a proxy elsewhere
        assert await bad_token_statuses(base, SPOOFED) == [401] * 3 + [429] * 3


@pytest.mark.parametrize("value", ["localhost", "10.0.0.0/33", "*"])
def test_trusted_proxies_are_addresses_or_networks(tmp_path, value):
    with pytest.raises(ValueError, match="KITH_TRUSTED_PROXIES"):
        read_settings({"KITH_DATA_DIR": str(tmp_path), "KITH_TRUSTED_PROXIES": value})
