"""`Allow` on OPTIONS names every method of the path.

Litestar (2.25) builds a path's automatic OPTIONS handler with the first route
object made for the path; when more handlers join the path (GET and POST of one
controller), the route is rebuilt but keeps that handler, whose `Allow` lists the
first route's methods only (`/contacts` answered `OPTIONS, POST`). At start-up
each automatic handler is pointed at its final route.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.routes import HTTPRoute


def point_options_at_their_routes(app: Litestar) -> None:
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or "OPTIONS" not in route.route_handler_map:
            continue
        handler, _ = route.route_handler_map["OPTIONS"]
        for cell in getattr(handler.fn, "__closure__", None) or ():
            if isinstance(cell.cell_contents, HTTPRoute):
                cell.cell_contents = route
