"""The one init plugin that wires Kith: routes, database, auth, problem documents, OpenAPI."""

from __future__ import annotations

from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from litestar import Router
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.middleware.base import DefineMiddleware
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins import InitPluginProtocol

from kith.auth.dependencies import provide_principal
from kith.auth.middleware import BearerTokenMiddleware
from kith.auth.scopes import scope_guard
from kith.db.config import get_sqlalchemy_config, provide_reader, reader_lifecycle
from kith.idempotency import provide_idempotency
from kith.problems import exception_handlers, problem_details_plugin
from kith.server.guards import KithRequest, TextGuardMiddleware
from kith.server.routes import API_CONTROLLERS
from kith.system.endpoints import SystemController

API_PREFIX = "/api/v1"
PUBLIC_PATHS = ["^/health$", "^/ready$", "^/schema"]


class KithPlugin(InitPluginProtocol):
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        api = Router(
            path=API_PREFIX, route_handlers=API_CONTROLLERS, security=[{"BearerToken": []}], guards=[scope_guard]
        )
        app_config.route_handlers.extend([SystemController, api])
        app_config.plugins.extend(
            [SQLAlchemyPlugin(config=get_sqlalchemy_config(self.database_url)), problem_details_plugin()]
        )
        open_reader, close_reader = reader_lifecycle(self.database_url)
        app_config.on_startup.append(open_reader)
        app_config.on_shutdown.append(close_reader)
        app_config.dependencies["db_reader"] = Provide(provide_reader, sync_to_thread=False)
        # First: hostile text is refused before authentication costs a query.
        app_config.middleware.insert(0, TextGuardMiddleware)
        app_config.request_class = KithRequest
        app_config.middleware.append(DefineMiddleware(BearerTokenMiddleware, exclude=PUBLIC_PATHS))
        app_config.dependencies["principal"] = Provide(provide_principal, sync_to_thread=False)
        app_config.dependencies["idempotency"] = Provide(provide_idempotency)
        app_config.exception_handlers.update(exception_handlers)
        app_config.openapi_config = OpenAPIConfig(
            title="Kith",
            version="1",
            path="/schema",
            components=Components(security_schemes={"BearerToken": SecurityScheme(type="http", scheme="bearer")}),
        )
        return app_config
