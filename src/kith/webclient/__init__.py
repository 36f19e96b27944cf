"""The small web client served at `/`: static files in this package (no build step), using only the public API."""

from __future__ import annotations

from pathlib import Path

from litestar import MediaType, get
from litestar.response import File
from litestar.static_files import create_static_files_router

STATIC_DIR = Path(__file__).parent / "static"
ASSETS_PATH = "/app"


@get("/", include_in_schema=False, sync_to_thread=False)
def index() -> File:
    return File(STATIC_DIR / "index.html", media_type=MediaType.HTML, content_disposition_type="inline")


def webclient_routes() -> list:
    return [index, create_static_files_router(path=ASSETS_PATH, directories=[STATIC_DIR], name="webclient")]
