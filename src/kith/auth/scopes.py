"""Scopes, enforced per route in the authentication's pass (kith.auth.middleware): reading needs `read`,
changing needs `write`, importing `import`.

A route names its scope with `opt={"scope": ...}` where the method does not say it (POST /sync: import).
"""

from __future__ import annotations

from litestar.handlers import BaseRouteHandler

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IMPORT: dict[str, str] = {"scope": "import"}


def required_scope(method: str, handler: BaseRouteHandler) -> str:
    return handler.opt.get("scope") or ("read" if method in READ_METHODS else "write")
