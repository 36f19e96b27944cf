from __future__ import annotations

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from sqlalchemy.ext.asyncio import AsyncEngine

from kith.openapi import public_responses
from kith.system.schemas import Health, Readiness
from kith.system.service import readiness


class SystemController(Controller):
    """Liveness and readiness; no token needed."""

    tags = ["system"]

    @get("/health", summary="Liveness", **public_responses())
    async def health(self) -> Health:
        return Health(status="ok")

    @get(
        "/ready",
        summary="Every dependency reachable: database, migrations at head, Redis when configured",
        description="200 `ready`, or `degraded` while the job queue's Redis is unreachable (requests are served; "
        "uploads wait in the outbox); 503 while the database is unreachable or behind the migrations.",
        **public_responses(HTTP_503_SERVICE_UNAVAILABLE),
    )
    async def ready(self, db_engine: NamedDependency[AsyncEngine]) -> Response[Readiness]:
        result = await readiness(db_engine)
        return Response(
            result, status_code=HTTP_200_OK if result.status in ("ready", "degraded") else HTTP_503_SERVICE_UNAVAILABLE
        )
