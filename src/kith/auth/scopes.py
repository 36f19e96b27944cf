"""Scopes, enforced per route by one guard: reading needs `read`, changing needs `write`, importing `import`.

A route names its scope with `opt={"scope": ...}` where the method does not say it (POST /sync: import).
"""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.status_codes import HTTP_403_FORBIDDEN

from kith.problems import problem

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IMPORT: dict[str, str] = {"scope": "import"}


def required_scope(method: str, handler: BaseRouteHandler) -> str:
    return handler.opt.get("scope") or ("read" if method in READ_METHODS else "write")


# Async: Litestar runs a sync guard in a worker thread, which costs more than the check.
async def scope_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    if connection.scope["method"] == "OPTIONS":  # answered without a token (CORS preflights carry none)
        return
    scope = required_scope(connection.scope["method"], handler)
    if scope not in connection.user.scopes:
        raise problem(
            HTTP_403_FORBIDDEN, "Forbidden", f"This token does not have the {scope!r} scope", required_scope=scope
        )
