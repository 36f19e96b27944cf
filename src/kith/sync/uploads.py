"""Uploaded files between the request and the worker: stored in PostgreSQL in chunks of at most 1 MiB.

The API (kith.sync.upload_request reads the request) writes the chunks as the body streams in (inside the request's
transaction, so a rejected upload leaves nothing); the worker, in any process
on any machine, reads them back one at a time. The sources parse blocking
file-like streams, so the worker runs the parser on a thread, over a stream
whose reads fetch the next chunk through the event loop; the loop meanwhile
writes the previous batch. At most `QUEUE_BATCHES` parsed batches wait in
between: memory stays flat, parsing and writing overlap.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from kith.sync import queries

CHUNK_BYTES = 1 << 20
QUEUE_BATCHES = 2


class ByteReader:
    """`read(n)` over an async iterator of byte chunks (an upload as it streams in)."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = bytearray()
        self._eof = False

    async def read(self, n: int) -> bytes:
        """Up to `n` bytes; fewer only at the end of the stream."""
        while len(self._buffer) < n and not self._eof:
            try:
                self._buffer += await anext(self._chunks)
            except StopAsyncIteration:
                self._eof = True
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data


class ChunkWriter:
    """Cuts a byte stream into CHUNK_BYTES rows of sync_uploads, in the caller's transaction."""

    def __init__(self, session: AsyncSession, tenant_id: int, sync_run_id: int) -> None:
        self._session = session
        self._key = {"tenant_id": tenant_id, "sync_run_id": sync_run_id}
        self._buffer = bytearray()
        self._seq = 0

    async def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= CHUNK_BYTES:
            await self._flush(bytes(self._buffer[:CHUNK_BYTES]))
            del self._buffer[:CHUNK_BYTES]

    async def close(self) -> None:
        if self._buffer:
            await self._flush(bytes(self._buffer))
            self._buffer.clear()

    async def _flush(self, chunk: bytes) -> None:
        await self._session.execute(queries.INSERT_CHUNK, {**self._key, "seq": self._seq, "data": chunk})
        self._seq += 1


def chunk_fetcher(conn: AsyncConnection, tenant_id: int, sync_run_id: int) -> Callable[[int], Awaitable[bytes | None]]:
    async def fetch(seq: int) -> bytes | None:
        return (await conn.exec_driver_sql(queries.READ_CHUNK, (tenant_id, sync_run_id, seq))).scalar()

    return fetch


def upload_sizer(conn: AsyncConnection, tenant_id: int, sync_run_id: int) -> Callable[[], Awaitable[int]]:
    async def size() -> int:
        return (await conn.exec_driver_sql(queries.UPLOAD_SIZE, (tenant_id, sync_run_id))).scalar_one()

    return size


class ChunkStream(io.RawIOBase):
    """A blocking, read-only stream over a run's chunks, for a parser on a worker thread.

    Each chunk is fetched on `loop` (the worker's event loop) when the previous one is used up. It seeks
    (every chunk but the last holds CHUNK_BYTES), so a zip archive's directory, at its end, can be read.
    """

    def __init__(
        self,
        fetch: Callable[[int], Awaitable[bytes | None]],
        loop: asyncio.AbstractEventLoop,
        size: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        self._fetch = fetch
        self._size = size
        self._loop = loop
        self._chunk = memoryview(b"")
        self._seq = 0
        self._pos = 0
        self._eof = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._size is not None

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if self._size is None:
            raise io.UnsupportedOperation("seek")
        if whence == io.SEEK_END:
            offset += self._run(self._size())
        elif whence == io.SEEK_CUR:
            offset += self._pos
        self._pos = max(offset, 0)
        self._seq, skip = divmod(self._pos, CHUNK_BYTES)
        self._chunk, self._eof = memoryview(b""), False
        if skip:
            self._next_chunk()
            self._chunk = self._chunk[skip:]
        return self._pos

    def _run(self, coroutine: Awaitable[Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()  # type: ignore[arg-type]

    def _next_chunk(self) -> None:
        data = self._run(self._fetch(self._seq))
        self._seq += 1
        if data is None:
            self._eof = True
        else:
            self._chunk = memoryview(data)

    def readinto(self, buffer: Any) -> int:
        while not self._chunk and not self._eof:
            self._next_chunk()
        n = min(len(buffer), len(self._chunk))
        buffer[:n] = self._chunk[:n]
        self._chunk = self._chunk[n:]
        self._pos += n
        return n


_DONE = object()


async def iterate_on_thread(make: Callable[[], AsyncIterator[Any]]) -> AsyncIterator[Any]:
    """Run the async generator `make()` on its own thread and event loop; yield its items here.

    The sources' generators do blocking reads and CPU-bound parsing between
    their yields: on a thread they neither stall this loop nor wait for it.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=QUEUE_BATCHES)
    stop = threading.Event()

    def hand_over(item: Any) -> None:
        asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()

    async def pump() -> None:
        try:
            async for item in make():
                if stop.is_set():
                    return
                hand_over(item)
            hand_over(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            if not stop.is_set():
                hand_over(exc)

    thread = threading.Thread(target=asyncio.run, args=(pump(),), name="kith-sync-parser", daemon=True)
    thread.start()
    try:
        while (item := await queue.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while not queue.empty():  # unblocks a pending hand-over, so the thread sees `stop` and ends
            queue.get_nowait()
        await asyncio.to_thread(thread.join)
