"""Idle and slow connections are closed: a client that opens a connection and sends nothing, or sends its
request's headers a byte at a time, holds it at most KITH_HEADER_TIMEOUT seconds; an idle keep-alive
connection at most KITH_KEEP_ALIVE_TIMEOUT."""

from __future__ import annotations

import asyncio
import time

import httpx
from tests.limits.conftest import until_serving
from tests.limits.test_forwarded_addresses import kith_serve


async def closed_after(reader: asyncio.StreamReader, bound: float) -> float:
    """Seconds until the server closed the connection (reads everything it sends meanwhile)."""
    started = time.monotonic()
    while await asyncio.wait_for(reader.read(4096), bound):
        pass
    return time.monotonic() - started


async def test_silent_slow_and_idle_connections_are_closed(db, tmp_path):
    with kith_serve(db, tmp_path, KITH_HEADER_TIMEOUT="2", KITH_KEEP_ALIVE_TIMEOUT="1") as base:
        async with httpx.AsyncClient(base_url=base) as client:
            await until_serving(client)
        port = int(base.rsplit(":", 1)[1])

        silent_reader, silent = await asyncio.open_connection("127.0.0.1", port)
        slow_reader, slow = await asyncio.open_connection("127.0.0.1", port)
        idle_reader, idle = await asyncio.open_connection("127.0.0.1", port)
        idle.write(b"GET /health HTTP/1.1\r\nHost: kith\r\n\r\n")

        async def trickle() -> None:  # a header line a second, never the blank line that ends them
            for i in range(20):
                slow.write(b"GET /health HTTP/1.1\r\n" if i == 0 else b"X-Slow-%d: x\r\n" % i)
                await slow.drain()
                await asyncio.sleep(0.5)

        trickling = asyncio.create_task(trickle())
        try:
            silent_for, slow_for, idle_for = await asyncio.gather(
                closed_after(silent_reader, 10), closed_after(slow_reader, 10), closed_after(idle_reader, 10)
            )
        finally:
            trickling.cancel()
            for writer in (silent, slow, idle):
                writer.close()
        assert 1.5 <= silent_for <= 5, silent_for
        assert 1.5 <= slow_for <= 5, slow_for
        assert idle_for <= 4, idle_for  # the response, then KITH_KEEP_ALIVE_TIMEOUT of idleness
