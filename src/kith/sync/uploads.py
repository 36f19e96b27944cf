"""Uploaded files between the request and the worker: stored in PostgreSQL in chunks of at most 1 MiB.

The API writes the chunks as the body streams in (inside the request's
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

from litestar import Request
from litestar.status_codes import HTTP_413_REQUEST_ENTITY_TOO_LARGE
from multipart import MultipartError, MultipartSegment, PushMultipartParser
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from kith.problems import bad_request, problem
from kith.sync import queries

CHUNK_BYTES = 1 << 20
QUEUE_BATCHES = 2


def too_large(limit: int) -> Exception:
    return problem(
        HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        "Request Entity Too Large",
        f"An upload may have at most {limit} bytes",
        max_bytes=limit,
    )


class UploadedFile:
    """The file a request carries, read as it streams in: the first file part of a
    multipart form, else the whole body. More than `limit` bytes is a 413."""

    def __init__(self, request: Request, limit: int) -> None:
        self._request = request
        self._limit = limit
        media_type, params = request.content_type
        self.media_type = media_type
        self._chunks = self._multipart(params.get("boundary")) if media_type == "multipart/form-data" else self._body()
        self._buffer = bytearray()
        self._eof = False

    async def read(self, n: int) -> bytes:
        """Up to `n` bytes; fewer only at the end of the file."""
        while len(self._buffer) < n and not self._eof:
            try:
                self._buffer += await anext(self._chunks)
            except StopAsyncIteration:
                self._eof = True
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    async def _body(self) -> AsyncIterator[bytes]:
        if (self._request.content_length or 0) > self._limit:
            raise too_large(self._limit)
        received = 0
        async for data in self._request.stream():
            received += len(data)
            if received > self._limit:
                raise too_large(self._limit)
            if data:
                yield data

    async def _multipart(self, boundary: str | None) -> AsyncIterator[bytes]:
        if not boundary:
            raise bad_request("multipart/form-data without a boundary")
        in_file = False
        try:
            parser = PushMultipartParser(boundary)
            async for data in self._body():
                for event in parser.parse(data):
                    if isinstance(event, MultipartSegment):
                        in_file = event.filename is not None
                        if in_file:
                            self.media_type = event.content_type or "application/octet-stream"
                    elif event is None and in_file:
                        return  # the file ends here; the parts after it are not read
                    elif event and in_file:
                        yield bytes(event)
        except MultipartError as exc:
            raise bad_request(f"Malformed multipart body: {exc}") from None
        raise bad_request("The multipart form has no complete file part")


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


class ChunkStream(io.RawIOBase):
    """A blocking, read-only stream over a run's chunks, for a parser on a worker thread.

    Each chunk is fetched on `loop` (the worker's event loop) when the previous one is used up.
    """

    def __init__(self, fetch: Callable[[int], Awaitable[bytes | None]], loop: asyncio.AbstractEventLoop) -> None:
        self._fetch = fetch
        self._loop = loop
        self._chunk = memoryview(b"")
        self._seq = 0
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._chunk and not self._eof:
            data = asyncio.run_coroutine_threadsafe(self._fetch(self._seq), self._loop).result()
            self._seq += 1
            if data is None:
                self._eof = True
            else:
                self._chunk = memoryview(data)
        n = min(len(buffer), len(self._chunk))
        buffer[:n] = self._chunk[:n]
        self._chunk = self._chunk[n:]
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
