from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncEngine

from kith.aggregates import service
from kith.aggregates.schemas import Dashboard, MentionSeries
from kith.auth.principal import Principal
from kith.responses import etag_response

CompanyName = Annotated[str, Parameter(min_length=1, max_length=500, description="The company, as on its contacts.")]


class DashboardController(Controller):
    path = "/dashboard"
    tags = ["dashboard"]

    @get("/", summary="The tenant's dashboard: one row, one statement")
    async def get_dashboard(
        self, request: Request, db_reader: NamedDependency[AsyncEngine], principal: NamedDependency[Principal]
    ) -> Response[Dashboard]:
        board = await service.dashboard(db_reader, principal.tenant_id, principal.time_zone)
        return etag_response(request, board, board.as_of)


class CompanyController(Controller):
    path = "/companies"
    tags = ["companies"]

    @get("/{name:str}/mentions/daily", summary="A company's news mentions per day (dense, tenant-local days)")
    async def daily_mentions(
        self,
        request: Request,
        db_reader: NamedDependency[AsyncEngine],
        principal: NamedDependency[Principal],
        name: CompanyName,
        days: Annotated[int, Parameter(ge=1, le=366)] = 90,
    ) -> Response[MentionSeries]:
        series = await service.daily_mentions(db_reader, principal.tenant_id, principal.time_zone, name, days)
        return etag_response(request, series, series.as_of)
