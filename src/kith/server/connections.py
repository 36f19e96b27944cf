"""Slow clients are closed: uvicorn's HTTP protocol with a deadline on each request's headers.

uvicorn closes a keep-alive connection idle for `timeout_keep_alive` seconds, but a connection that was
just opened, or that sends its headers a byte at a time, it keeps forever: a few hundred of those hold
every slot of a server. Here a connection gets KITH_HEADER_TIMEOUT seconds, from its opening (or the end
of its previous response), to finish the headers of its next request; then it is closed.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from kith.config import get_settings


class HeaderDeadlineProtocol(HttpToolsProtocol):
    _header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
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
