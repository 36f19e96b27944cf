"""URLs Kith hands out (Location, Link): on the configured public URL, else relative; never on the Host header."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from litestar import Request, Response
from litestar.enums import MediaType
from litestar.status_codes import HTTP_201_CREATED

from kith.config import get_settings


def link_to(path: str) -> str:
    """`path` (with its query) as clients should follow it: KITH_PUBLIC_URL + path, or the path alone."""
    base = get_settings().http.public_url
    return base + path if base else path


async def created(request: Request, made: Awaitable[Any], route_name: str, **path: str) -> Response:
    """A 201 with what `made` gives and its Location: the route named `route_name`, each path parameter
    read from the attribute of the created resource that `path` names (e.g. contact_id="id")."""
    resource = await made
    location = request.app.route_reverse(route_name, **{name: getattr(resource, attr) for name, attr in path.items()})
    return Response(
        resource, status_code=HTTP_201_CREATED, headers={"Location": link_to(location)}, media_type=MediaType.JSON
    )
