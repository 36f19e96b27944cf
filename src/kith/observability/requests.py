"""Per request: an id (the client's X-Request-ID, or a new one) echoed back and put on every log
line; the request metrics (count, duration, in progress, errors, by route and status) and its SQL
statement count; security headers; and the headers later passes ask for (`response_headers(scope)`: the
rate limits'), so the response's start is wrapped once, here."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from time import perf_counter
from typing import Any

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from kith.observability.metrics import (
    REQUEST_ERRORS,
    REQUEST_SECONDS,
    REQUESTS,
    REQUESTS_IN_PROGRESS,
    SQL_STATEMENTS,
    count_statements,
)

request_id: ContextVar[str | None] = ContextVar("kith_request_id", default=None)

_STATE_KEY = "kith_request_id"
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
# The web client (`/`, `/app/*`): its own files only, no inline script or style, no eval, API calls to itself.
WEB_CLIENT_CSP = (
    b"content-security-policy",
    b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    b"form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
)
_RESPONSE_HEADERS = "kith_response_headers"


def response_headers(scope: Scope) -> dict[str, str]:
    """Headers to add to this request's response unless it has them (a later set of a name wins)."""
    return scope[_RESPONSE_HEADERS]  # type: ignore[typeddict-item]


APP_NAME = "kith"
UNMEASURED_PATHS = frozenset({"/metrics"})  # the scrape itself is not counted


class _Bound:
    """The metrics' children of one (method, route), bound once: a request only adds to them."""

    __slots__ = ("by_status", "in_progress", "method", "path", "statements")

    def __init__(self, method: str, path: str) -> None:
        self.method, self.path = method, path
        self.in_progress = REQUESTS_IN_PROGRESS.labels(method, path, "200", APP_NAME)
        self.statements = SQL_STATEMENTS.labels(path)
        self.by_status: dict[int, tuple[Any, Any, Any]] = {}

    def finished(self, status: int, seconds: float, statements: int) -> None:
        if (bound := self.by_status.get(status)) is None:
            labels = (self.method, self.path, str(status), APP_NAME)
            errors = REQUEST_ERRORS.labels(*labels) if status >= 500 else None
            bound = self.by_status[status] = (REQUESTS.labels(*labels), REQUEST_SECONDS.labels(*labels), errors)
        count, duration, errors = bound
        count.inc()
        duration.observe(seconds)
        if errors is not None:
            errors.inc()
        self.statements.observe(statements)


_bound: dict[tuple[str, str], _Bound] = {}


class RequestContextMiddleware(ASGIMiddleware):
    """The request's id on every log line of it, its metrics and SQL statement count, and the headers its
    handling asked for (`response_headers`) (routed requests)."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        started = perf_counter()
        request_id.set(_request_id(scope))
        statements = count_statements()
        asked: dict[str, str] = {}
        scope[_RESPONSE_HEADERS] = asked  # type: ignore[typeddict-unknown-key]
        path = scope.get("path_template") or "unmatched"
        key = (scope["method"], path)
        if (bound := _bound.get(key)) is None:
            bound = _bound[key] = _Bound(*key)
        status = 200

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if asked:
                    own = list(message.get("headers", []))
                    present = {name.lower() for name, _ in own}
                    own += [
                        (n.lower().encode(), v.encode()) for n, v in asked.items() if n.lower().encode() not in present
                    ]
                    message["headers"] = own
            await send(message)

        if path in UNMEASURED_PATHS:
            try:
                await next_app(scope, receive, send_with_headers)
            finally:
                bound.statements.observe(statements[0])
            return
        bound.in_progress.inc()
        try:
            await next_app(scope, receive, send_with_headers)
        except BaseException as exc:  # answered by the exception handlers outside: their status
            status = getattr(exc, "status_code", 500)
            raise
        finally:
            bound.in_progress.dec()
            bound.finished(status, perf_counter() - started, statements[0])


def security_headers(api_prefix: str, web_client_prefix: str):
    """A `before_send` hook: the request id and the security headers on every response, also those no
    route or middleware produced (a 404 of no route, a 405, a 401 or 429 raised in a middleware)."""

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = [(b"x-request-id", _request_id(scope).encode()), *SECURITY_HEADERS]
        path = scope["path"]
        if path.startswith(api_prefix):
            headers.append(API_CSP)
        elif path == "/" or path.startswith(web_client_prefix):
            headers.append(WEB_CLIENT_CSP)
        message["headers"] = [*message.get("headers", []), *headers]

    return add_headers


def _request_id(scope: Scope) -> str:
    """The client's X-Request-ID when it is acceptable, else a new one; the same for the whole request
    (kept in the scope's state, which every copy of the scope shares)."""
    state = scope.setdefault("state", {})  # type: ignore[typeddict-item]
    if (rid := state.get(_STATE_KEY)) is None:
        incoming = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        rid = state[_STATE_KEY] = incoming if _ACCEPTABLE_ID.match(incoming) else uuid.uuid4().hex
    return rid
