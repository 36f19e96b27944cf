"""Per request: an id (the client's X-Request-ID, or a new one) echoed back and put on every log
line; the SQL statement count; security headers; and the headers later passes ask for
(`response_headers(scope)`: the rate limits'), so the response's start is wrapped once, here."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from kith.observability.metrics import SQL_STATEMENTS, count_statements

request_id: ContextVar[str | None] = ContextVar("kith_request_id", default=None)

# A client's id is kept when it is short and plain (it lands in logs); anything else is replaced.
_ACCEPTABLE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
# The API serves data only; the docs pages under /schema run their own scripts and keep their defaults.
API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
_RESPONSE_HEADERS = "kith_response_headers"


def response_headers(scope: Scope) -> dict[str, str]:
    """Headers to add to this request's response unless it has them (a later set of a name wins)."""
    return scope[_RESPONSE_HEADERS]  # type: ignore[typeddict-item]


class RequestContextMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(self, api_prefix: str) -> None:
        self.api_prefix = api_prefix

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        incoming = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        rid = incoming if _ACCEPTABLE_ID.match(incoming) else uuid.uuid4().hex
        request_id.set(rid)
        statements = count_statements()
        headers = [(b"x-request-id", rid.encode()), *SECURITY_HEADERS]
        if scope["path"].startswith(self.api_prefix):
            headers.append(API_CSP)
        asked: dict[str, str] = {}
        scope[_RESPONSE_HEADERS] = asked  # type: ignore[typeddict-unknown-key]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                own = list(message.get("headers", []))
                if asked:
                    present = {name.lower() for name, _ in own}
                    own += [
                        (n.lower().encode(), v.encode()) for n, v in asked.items() if n.lower().encode() not in present
                    ]
                message["headers"] = [*own, *headers]
            await send(message)

        try:
            await next_app(scope, receive, send_with_headers)
        finally:
            SQL_STATEMENTS.labels(scope.get("path_template") or "unmatched").observe(statements[0])
