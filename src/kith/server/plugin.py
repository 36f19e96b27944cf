"""The one init plugin that wires Kith: routes, database, auth, problem documents, OpenAPI."""

from __future__ import annotations

from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from litestar import Litestar, Router
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.middleware.base import DefineMiddleware
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins import InitPluginProtocol

from kith.auth.dependencies import provide_principal
from kith.auth.middleware import BearerTokenMiddleware
from kith.db.config import get_sqlalchemy_config, provide_reader, reader_lifecycle
from kith.jobqueue.outbox import start_resending
from kith.problems import exception_handlers, problem_details_plugin
from kith.server.docs import docs_assets_router, docs_render_plugin
from kith.server.routes import API_CONTROLLERS
from kith.system.endpoints import SystemController
from kith.tasks import jobs as _  # noqa: F401 - defines the jobs the API requests (sent by name)
from kith.webclient import webclient_routes

API_PREFIX = "/api/v1"
# The docs, the web client and its files carry no data: the client signs in with a token the user pastes.
PUBLIC_PATHS = ["^/health$", "^/ready$", "^/schema", "^/$", "^/app/"]
UNSENT_JOBS_STATE_KEY = "kith_unsent_jobs"


class KithPlugin(InitPluginProtocol):
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        api = Router(path=API_PREFIX, route_handlers=API_CONTROLLERS, security=[{"BearerToken": []}])
        app_config.route_handlers.extend([SystemController, api, docs_assets_router(), *webclient_routes()])
        sqlalchemy_config = get_sqlalchemy_config(self.database_url)
        app_config.plugins.extend([SQLAlchemyPlugin(config=sqlalchemy_config), problem_details_plugin()])
        open_reader, close_reader = reader_lifecycle(self.database_url)
        app_config.on_startup.append(open_reader)
        app_config.on_shutdown.append(close_reader)

        async def send_unsent_jobs(app: Litestar) -> None:
            app.state[UNSENT_JOBS_STATE_KEY] = await start_resending(sqlalchemy_config.get_engine())

        async def stop_sending(app: Litestar) -> None:
            if (sending := app.state.get(UNSENT_JOBS_STATE_KEY)) is not None:
                sending.cancel()

        app_config.on_startup.append(send_unsent_jobs)
        app_config.on_shutdown.insert(0, stop_sending)
        app_config.dependencies["db_reader"] = Provide(provide_reader, sync_to_thread=False)
        app_config.middleware.append(DefineMiddleware(BearerTokenMiddleware, exclude=PUBLIC_PATHS))
        app_config.dependencies["principal"] = Provide(provide_principal, sync_to_thread=False)
        app_config.exception_handlers.update(exception_handlers)
        app_config.openapi_config = OpenAPIConfig(
            title="Kith",
            version="1",
            path="/schema",
            render_plugins=[docs_render_plugin()],
            components=Components(security_schemes={"BearerToken": SecurityScheme(type="http", scheme="bearer")}),
        )
        return app_config
