"""The one init plugin that wires Kith: routes, database, auth, problem documents, OpenAPI."""

from __future__ import annotations

import asyncio

from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from litestar import Litestar, Router
from litestar.config.app import AppConfig
from litestar.config.compression import CompressionConfig
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.middleware.base import DefineMiddleware
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins import InitPluginProtocol

from kith.auth.dependencies import provide_plan, provide_principal
from kith.auth.known_tokens import KNOWN_TOKENS_STATE_KEY, TOKEN_USE_STATE_KEY, KnownTokens, TokenUse
from kith.auth.middleware import BearerTokenMiddleware
from kith.config import get_settings
from kith.db.config import app_reader, get_sqlalchemy_config, reader_lifecycle
from kith.db.replicas import TOKEN_HEADER, provide_db_reader, replicas_lifecycle
from kith.idempotency import provide_idempotency
from kith.jobqueue.sweeper import sweep_unsent_jobs
from kith.limits import (
    AUTH_FAILURES_STATE_KEY,
    WINDOW_COUNTS_STATE_KEY,
    AuthFailureBudget,
    address_rate_limit,
    window_counts_for,
)
from kith.notify import NotificationListener
from kith.observability.endpoints import MetricsController
from kith.observability.logs import logging_config
from kith.observability.requests import RequestContextMiddleware, security_headers
from kith.openapi import finalize_openapi
from kith.pagination.cache import PAGE_CACHE_STATE_KEY, PageCache, serve_cached_page
from kith.plans import PLAN_CACHE_STATE_KEY, PlanCache
from kith.problems import exception_handlers, problem_details_plugin
from kith.server.docs import docs_assets_router, docs_render_plugin
from kith.server.guards import KithRequest, TextGuardMiddleware
from kith.server.head import answer_head_as_get
from kith.server.options import point_options_at_their_routes
from kith.server.pages import KeptPagesMiddleware
from kith.server.routes import API_CONTROLLERS, PUBLIC_API_CONTROLLERS
from kith.system.endpoints import SystemController
from kith.tasks import jobs as _  # noqa: F401 - defines the jobs the API requests (sent by name)
from kith.webclient import webclient_routes

API_PREFIX = "/api/v1"
# The docs, the web client and its files carry no data: the client signs in with a token the user pastes.
PUBLIC_PATHS = [
    "^/health$",
    "^/ready$",
    "^/schema",
    "^/metrics$",
    "^/$",
    "^/app/",
    "^/api/v1/connections/[^/]+/callback$",
]
UNSENT_JOBS_STATE_KEY = "kith_unsent_jobs"
# Probes are never limited; everything else is, per address, before its token is looked at.
UNLIMITED_PATHS = ["^/health$", "^/ready$", "^/metrics$"]
LISTENER_STATE_KEY = "kith_notify_listener"
# What a browser client may read from a response (CORS).
EXPOSED_HEADERS = [
    "ETag",
    "Link",
    "Location",
    "X-Data-As-Of",
    "X-Request-ID",
    "Retry-After",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "RateLimit-Policy",
    TOKEN_HEADER,
]


def channel_lifecycle(database_url: str):
    """The notification listener and the caches it keeps true, opened at start-up."""

    async def start(app: Litestar) -> None:
        listener = NotificationListener(database_url)
        plans = PlanCache(listening=lambda: listener.connected)
        listener.subscribe("plan", plans)
        tokens = KnownTokens(listening=lambda: listener.connected)
        listener.subscribe("token", tokens)
        app.state[LISTENER_STATE_KEY] = listener
        app.state[PLAN_CACHE_STATE_KEY] = plans
        app.state[KNOWN_TOKENS_STATE_KEY] = tokens
        settings = get_settings()
        # Off with read replicas: a page a replica read may be behind the write notifications that empty the
        # cache, and kept it would be served stale (and past a client's consistency token).
        page_bytes = 0 if settings.database.read_replica_urls else settings.http.page_cache_bytes
        pages = PageCache(listening=lambda: listener.connected, max_bytes=page_bytes)
        listener.subscribe("rows", pages)
        listener.subscribe("readmodel", pages)
        app.state[PAGE_CACHE_STATE_KEY] = pages
        app.state[TOKEN_USE_STATE_KEY] = use = TokenUse(app_reader(app))
        use.start()
        await listener.start()

    async def stop(app: Litestar) -> None:
        await app.state[TOKEN_USE_STATE_KEY].stop()
        await app.state[LISTENER_STATE_KEY].stop()

    return start, stop


async def open_limits(app: Litestar) -> None:
    """The request counts (kith.limits.windows) and the failed-auth budget kept in them."""
    settings = get_settings()
    counts = app.state[WINDOW_COUNTS_STATE_KEY] = window_counts_for(settings)
    limits = settings.limits
    app.state[AUTH_FAILURES_STATE_KEY] = AuthFailureBudget(
        counts, limits.auth_failures_per_address, limits.auth_failure_window_seconds
    )


async def close_limits(app: Litestar) -> None:
    await app.state[WINDOW_COUNTS_STATE_KEY].close()


class KithPlugin(InitPluginProtocol):
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        api = Router(
            path=API_PREFIX,
            route_handlers=API_CONTROLLERS,
            security=[{"BearerToken": []}],
            before_request=serve_cached_page,
        )
        public_api = Router(path=API_PREFIX, route_handlers=PUBLIC_API_CONTROLLERS)
        app_config.route_handlers.extend(
            [SystemController, MetricsController, api, public_api, docs_assets_router(), *webclient_routes()]
        )
        sqlalchemy_config = get_sqlalchemy_config(self.database_url)
        app_config.plugins.extend([SQLAlchemyPlugin(config=sqlalchemy_config), problem_details_plugin()])
        open_reader, close_reader = reader_lifecycle(self.database_url)
        open_replicas, close_replicas = replicas_lifecycle()
        start_channel, stop_channel = channel_lifecycle(self.database_url)

        async def send_unsent_jobs(app: Litestar) -> None:
            sweeping = sweep_unsent_jobs(sqlalchemy_config.get_engine())
            app.state[UNSENT_JOBS_STATE_KEY] = asyncio.get_running_loop().create_task(sweeping)

        async def stop_sending(app: Litestar) -> None:
            if (sending := app.state.get(UNSENT_JOBS_STATE_KEY)) is not None:
                sending.cancel()

        app_config.on_startup.extend(
            [
                point_options_at_their_routes,
                answer_head_as_get,
                finalize_openapi,
                open_reader,
                open_replicas,
                open_limits,
                start_channel,
                send_unsent_jobs,
            ]
        )
        app_config.on_shutdown.extend([stop_sending, stop_channel, close_limits, close_replicas, close_reader])
        settings = get_settings()
        app_config.dependencies["db_reader"] = Provide(provide_db_reader, sync_to_thread=False)
        app_config.request_class = KithRequest
        app_config.middleware.extend(
            [
                RequestContextMiddleware(),
                # Hostile text is refused before a rate-limit lookup or authentication costs anything.
                TextGuardMiddleware,
                address_rate_limit(settings.limits.requests_per_minute_per_address, exclude=UNLIMITED_PATHS),
                DefineMiddleware(BearerTokenMiddleware, exclude=PUBLIC_PATHS),
                KeptPagesMiddleware(),
            ]
        )
        app_config.before_send.append(security_headers(API_PREFIX, web_client_prefix="/app/"))
        app_config.dependencies["principal"] = Provide(provide_principal, sync_to_thread=False)
        app_config.dependencies["plan"] = Provide(provide_plan)
        app_config.dependencies["idempotency"] = Provide(provide_idempotency)
        app_config.exception_handlers.update(exception_handlers)
        app_config.logging_config = logging_config(settings.http.json_logs)
        app_config.compression_config = CompressionConfig(
            backend="brotli", brotli_gzip_fallback=True, minimum_size=settings.http.compression_min_bytes
        )
        if settings.http.cors_origins:
            app_config.cors_config = CORSConfig(
                allow_origins=list(settings.http.cors_origins),
                allow_headers=[
                    "Authorization",
                    "Content-Type",
                    "If-None-Match",
                    "X-Request-ID",
                    "Idempotency-Key",
                    TOKEN_HEADER,
                ],
                expose_headers=EXPOSED_HEADERS,
                max_age=600,
            )
        app_config.openapi_config = OpenAPIConfig(
            title="Kith",
            version="1",
            path="/schema",
            render_plugins=[docs_render_plugin()],
            components=Components(security_schemes={"BearerToken": SecurityScheme(type="http", scheme="bearer")}),
        )
        return app_config
