"""HEAD works wherever GET does (RFC 9110 9.3.2): the GET route answers it, and its body is not sent.

Litestar routes HEAD only to handlers declared for it, and routing happens before any middleware, so
the app's ASGI handler is wrapped at start-up: the request goes through as GET (the same guards, scopes,
limits and headers, Content-Length and ETag included) and the body is dropped on its way out.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Message, Receive, Scope, Send


def answer_head_as_get(app: Litestar) -> None:
    app.asgi_handler = _head_as_get(app.asgi_handler)
    for route in app.routes:  # so OPTIONS' Allow says so
        if isinstance(route, HTTPRoute) and "GET" in route.methods:
            route.methods.add("HEAD")


def _head_as_get(inner: ASGIApp) -> ASGIApp:
    async def handle(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await inner(scope, receive, send)
            return

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await inner({**scope, "method": "GET"}, receive, send_without_body)  # type: ignore[typeddict-item]

    return handle
