"""The Litestar application factory."""

from __future__ import annotations

from litestar import Litestar

from kith.db.engine import database_url
from kith.server.plugin import KithPlugin


def create_app(db_url: str | None = None) -> Litestar:
    return Litestar(plugins=[KithPlugin(db_url or database_url())])
