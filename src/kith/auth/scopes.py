"""Scopes, enforced per route in the authentication's pass (kith.auth.middleware): reading needs `read`,
changing needs `write`, importing `import`.

`write` includes `read`: a write answers with the resource it wrote (PATCH {} would show any contact
to a write-only token), so a token that may change the data may read it, as GitHub's write access does.

A route names its scope with `opt={"scope": ...}` where the method does not say it (POST /sync: import).
"""

from __future__ import annotations

from litestar.handlers import BaseRouteHandler

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IMPORT: dict[str, str] = {"scope": "import"}


def required_scope(method: str, handler: BaseRouteHandler) -> str:
    return handler.opt.get("scope") or ("read" if method in READ_METHODS else "write")


def grants(scopes: frozenset[str], needed: str) -> bool:
    """Whether a token with `scopes` may do what needs `needed` (`write` includes `read`)."""
    return needed in scopes or (needed == "read" and "write" in scopes)
