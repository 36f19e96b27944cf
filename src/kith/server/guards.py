"""Hostile text, refused once for every route: a 400 problem before any handler or query sees it.

- Query strings and paths: a NUL, or bytes that are not UTF-8 (lone surrogates included),
  checked on the raw ASGI scope by `TextGuardMiddleware`.
- JSON bodies: nesting deeper than MAX_JSON_DEPTH is refused before decoding, raw bytes that are not
  UTF-8 while decoding, and any string (key or value) holding a NUL after it, by `KithRequest.json()`,
  which every JSON body goes through.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

from litestar import Request
from litestar.types import ASGIApp, Empty, Receive, Scope, Send

from kith.problems import bad_request
from kith.text import MAX_JSON_DEPTH, json_depth


def _unfit(raw: bytes) -> str | None:
    """What makes percent-encoded `raw` unfit for PostgreSQL text (a NUL, bytes that are not UTF-8), or None."""
    decoded = unquote_to_bytes(raw)
    if b"\x00" in decoded:
        return "holds a NUL character (%00)"
    try:
        decoded.decode("utf-8")
    except UnicodeDecodeError:
        return "is not UTF-8"
    return None


class TextGuardMiddleware:
    """A NUL or a non-UTF-8 byte in the query string or the path is a 400."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
            for part, raw in (("query string", scope.get("query_string", b"")), ("path", path)):
                if raw and (reason := _unfit(raw)):
                    raise bad_request(f"The {part} {reason}")
        await self.app(scope, receive, send)


def _nul_path(value: Any) -> str | None:
    """Where in a decoded JSON value a string holds a NUL (`$.notes`, `$.tags[1]`), or None."""
    stack: list[tuple[str, Any]] = [("$", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return path
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", v) for i, v in enumerate(item))
        elif isinstance(item, dict):
            for key, v in item.items():
                if "\x00" in key:
                    return path
                stack.append((f"{path}.{key}", v))
    return None


class KithRequest(Request):
    """Litestar's request, whose JSON body is bounded in depth and free of NULs."""

    async def json(self) -> Any:
        if self._json is not Empty or self._connection_state.json is not Empty:
            return await super().json()
        if json_depth(await self.body()) > MAX_JSON_DEPTH:
            raise bad_request(f"The JSON body nests deeper than {MAX_JSON_DEPTH} levels")
        try:
            value = await super().json()
        except UnicodeDecodeError as exc:  # msgspec checks UTF-8 as it decodes strings, and raises this
            raise bad_request(f"The JSON body is not UTF-8 (byte {exc.start})") from None
        if (path := _nul_path(value)) is not None:
            raise bad_request(f"A string of the JSON body holds a NUL character (\\u0000) at `{path}`")
        return value
