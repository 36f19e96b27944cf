"""The Litestar application factory."""

from __future__ import annotations

import gc

from litestar import Litestar

from kith.db.engine import database_url
from kith.server.plugin import KithPlugin


def create_app(db_url: str | None = None) -> Litestar:
    return Litestar(plugins=[KithPlugin(db_url or database_url())])


def create_served_app() -> Litestar:
    """The app as `kith serve` runs it: one per server process, living as long as the process."""
    app = create_app()
    app.on_startup.append(_freeze_what_startup_made)
    return app


async def _freeze_what_startup_made(_app: Litestar) -> None:
    """Keep every object alive after start-up (the app, its routes, modules, pools) out of the garbage
    collector's reach: they live as long as the process, and each full collection walked all of them again
    (gc_collect_main, 7% of an uncached page's server time in a py-spy --native profile). Not in
    create_app: a process making many apps (the tests) would keep each one's garbage for good."""
    gc.collect()
    gc.freeze()
