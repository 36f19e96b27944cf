"""The API docs page: Swagger UI served by Kith from the files of the `swagger-ui-py` wheel, so it renders offline.

`swagger-ui-py` is used for its files only (it ships Swagger UI 5, which renders OpenAPI 3.1; the
`swagger-ui-bundle` wheel ships 4.15, which cannot). It is located, not imported: its package
imports web-framework glue Kith does not need.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from litestar import Router
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

DOCS_ASSETS_PATH = "/schema/assets"


def swagger_ui_files() -> Path:
    spec = find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is missing (run `uv sync`)")
    return Path(spec.submodule_search_locations[0]) / "static"


def docs_render_plugin() -> SwaggerRenderPlugin:
    """Swagger UI at /schema (and /schema/swagger, where Litestar's default put it), every asset local."""
    return SwaggerRenderPlugin(
        path=["/", "/swagger"],
        js_url=f"{DOCS_ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{DOCS_ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{DOCS_ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{DOCS_ASSETS_PATH}/favicon-32x32.png'>",
    )


def docs_assets_router() -> Router:
    return create_static_files_router(path=DOCS_ASSETS_PATH, directories=[swagger_ui_files()], name="docs-assets")
