"""A response leaves in one write (kith.server.connections.CorkedTransport): the writes of one event-loop
turn go out together at its end, a large one at once (flow control still sees it), and closing sends what
is pending first. On real loopback TCP connections."""

from __future__ import annotations

import asyncio

import httpx
from tests.limits.conftest import until_serving
from tests.limits.test_forwarded_addresses import kith_serve

from kith.server.connections import CORK_BYTES, CorkedTransport


async def _connected() -> tuple[asyncio.Transport, asyncio.StreamReader, asyncio.Server]:
    accepted: asyncio.Queue[asyncio.StreamReader] = asyncio.Queue()

    async def accept(reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
        await accepted.put(reader)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport, _ = await asyncio.get_running_loop().create_connection(asyncio.Protocol, "127.0.0.1", port)
    return transport, await accepted.get(), server


async def test_writes_of_one_turn_leave_together_at_its_end() -> None:
    transport, reader, server = await _connected()
    corked = CorkedTransport(transport, asyncio.get_running_loop())
    corked.write(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n")
    corked.write(b"body")
    assert transport.get_write_buffer_size() == 0  # nothing handed to the socket yet
    assert corked.get_write_buffer_size() == 42
    await asyncio.sleep(0)  # the turn ends
    assert corked.get_write_buffer_size() == transport.get_write_buffer_size()
    assert await reader.readexactly(42) == b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nbody"

    big = b"x" * (CORK_BYTES + 1)
    corked.write(big)  # past the bound: handed over at once, as uvicorn's flow control expects
    assert corked.get_write_buffer_size() == transport.get_write_buffer_size()
    assert await reader.readexactly(len(big)) == big

    corked.write(b"last")
    corked.close()  # sends what is pending, then closes
    assert await reader.read() == b"last"
    server.close()
    await server.wait_closed()


async def test_kith_serve_answers_through_it(db, tmp_path):
    """Keep-alive requests, HEAD and a closing connection, against `kith serve` (which uses it)."""
    with kith_serve(db, tmp_path) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            await until_serving(client)
            for _ in range(3):  # one connection, kept alive
                response = await client.get("/health")
                assert response.status_code == 200 and response.json()
            head = await client.head("/health")
            assert head.status_code == 200 and head.content == b""
        port = int(base.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /health HTTP/1.1\r\nHost: kith\r\nConnection: close\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 10)  # to the end: the server closes after it
        writer.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        length = int(
            next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
        )
        assert len(body) == length
