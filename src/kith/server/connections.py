"""uvicorn's HTTP protocol, with a deadline on each request's headers and a response sent in one write.

Slow clients are closed. uvicorn closes a keep-alive connection idle for `timeout_keep_alive` seconds,
but a connection that was just opened, or that sends its headers a byte at a time, it keeps forever: a
few hundred of those hold every slot of a server. Here a connection gets KITH_HEADER_TIMEOUT seconds,
from its opening (or the end of its previous response), to finish the headers of its next request; then
it is closed.

One write per response. uvicorn writes a response's head when the app sends its start and the body when
it sends the body: two `send` system calls (and two TCP segments) for every page, the first of them the
largest single cost of answering a kept page (py-spy: 36% of a 304's samples). The connection's writes
made in one turn of the event loop now leave together at the end of the turn (`CorkedTransport`), so a
head and its body are one write; past CORK_BYTES a write leaves at once, so a streamed body never
waits in memory beyond that and the transport's flow control (pause_writing) sees it as before.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from kith.config import get_settings

CORK_BYTES = 256 * 1024


class CorkedTransport:
    """A transport whose writes of one event-loop turn are sent as one (see the module's docstring)."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._pending_bytes = 0

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes >= CORK_BYTES:
            self.flush()

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        if not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._pending, self._pending_bytes = [], 0
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._pending_bytes + self._transport.get_write_buffer_size()

    def __getattr__(self, name: str) -> Any:  # everything else is the transport's
        return getattr(self._transport, name)


class HeaderDeadlineProtocol(HttpToolsProtocol):
    _header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = CorkedTransport(transport, self.loop)  # type: ignore[assignment]
        self._arm_header_deadline()

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        self._disarm_header_deadline()
        self._header_deadline = self.loop.call_later(get_settings().http.header_timeout, self._headers_too_slow)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        if self.cycle is None or self.cycle.response_complete:  # not while the app answers a request
            self.transport.close()
