"""`kith connect`: a connection from a terminal, by the browser flow (the callback on a local port) or a refresh token."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Annotated

import uvicorn
from litestar import Litestar, MediaType, get
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kith.config import get_settings
from kith.connectors import service
from kith.connectors.oauth import STATE_MAX_AGE
from kith.jobqueue.outbox import send_requested, take_requested


async def connect_in_browser(
    engine: AsyncEngine,
    tenant_id: int,
    user_id: int,
    provider: str,
    days_back: int | None,
    port: int,
    show_url: Callable[[str], None],
) -> int:
    """Show the authorization URL, take the provider's redirect on 127.0.0.1:`port` (0: any free port),
    store the connection and send its first sync; returns the connection's id."""
    service._configured(get_settings().connectors)
    redirected: asyncio.Future[tuple[str | None, str | None, str | None]] = asyncio.get_running_loop().create_future()

    @get("/callback", media_type=MediaType.TEXT)
    async def callback(
        code: str | None = None,
        sealed_state: Annotated[str | None, QueryParameter(name="state")] = None,
        error: str | None = None,
    ) -> str:
        if not redirected.done():
            redirected.set_result((code, sealed_state, error))
        return "Kith: you may close this window and go back to the terminal."

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", port))
    server = uvicorn.Server(uvicorn.Config(Litestar([callback]), log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        redirect_uri = f"http://127.0.0.1:{sock.getsockname()[1]}/callback"
        link = service.authorization_link(tenant_id, user_id, provider, redirect_uri, days_back)
        show_url(link.authorization_url)
        code, state, error = await asyncio.wait_for(redirected, STATE_MAX_AGE)
    finally:
        server.should_exit = True
        await serving
        sock.close()
    if error or not code or not state:
        raise service.ConnectError(f"the authorization was not granted: {error or 'no code'}")
    flow = service.open_flow(provider, state)
    async with AsyncSession(engine) as session, session.begin():
        connection_id = await service.finish_authorization(session, provider, code, flow)
        requested = take_requested(session)
    await send_requested(engine, requested)
    return connection_id
