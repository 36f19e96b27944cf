from __future__ import annotations

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.plugins.prometheus import PrometheusController
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kith.observability.metrics import AS_OF_AGE, QUEUE_DEPTH

# Read at scrape time: what workers changed is in the database, not in this process.
READ_MODEL_AGES = text(
    "SELECT view_name, extract(epoch FROM now() - as_of) AS age FROM view_refreshes WHERE as_of IS NOT NULL"
)
WAITING_RUNS = text("SELECT status, count(*) AS n FROM sync_runs WHERE status IN ('queued', 'running') GROUP BY status")


class MetricsController(PrometheusController):
    """GET /metrics (Prometheus text format; no token: expose it to the scraper's network only)."""

    @get(include_in_schema=False)
    async def get(self, db_reader: NamedDependency[AsyncEngine]) -> Response:
        async with db_reader.connect() as conn:
            for row in await conn.execute(READ_MODEL_AGES):
                AS_OF_AGE.labels(row.view_name).set(float(row.age))
            waiting = {row.status: row.n for row in await conn.execute(WAITING_RUNS)}
        for status in ("queued", "running"):
            QUEUE_DEPTH.labels(status).set(waiting.get(status, 0))
        return await super().get.fn(self)
