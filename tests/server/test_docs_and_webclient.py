"""The docs page and the web client are served by Kith itself, without a token, and reference no other host."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from litestar.testing import AsyncTestClient


class _References(HTMLParser):
    """Every URL a page makes the browser load or link to: src, href, and CSS url(...) in style tags."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls.extend(value for name, value in attrs if name in {"src", "href"} and value)


def references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    return parser.urls


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in {"", "data"} and not parts.netloc


@pytest.mark.parametrize("page", ["/schema", "/"])
async def test_a_page_references_no_external_host(client: AsyncTestClient, page: str) -> None:
    response = await client.get(page)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    urls = references(response.text)
    assert urls, "the page loads its code from somewhere"
    assert [url for url in urls if not is_local(url)] == []
    for url in urls:
        if url.startswith("/"):
            asset = await client.get(url)
            assert asset.status_code == 200, url


async def test_docs_assets_are_served_with_their_types(client: AsyncTestClient) -> None:
    script = await client.get("/schema/assets/swagger-ui-bundle.js")
    style = await client.get("/schema/assets/swagger-ui.css")

    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert b"SwaggerUIBundle" in script.content
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")


async def test_one_docs_ui_only(client: AsyncTestClient) -> None:
    assert (await client.get("/schema/swagger")).status_code == 200
    for dropped in ["/schema/redoc", "/schema/elements", "/schema/rapidoc"]:
        assert (await client.get(dropped)).status_code == 404, dropped


async def test_web_client_files_are_public_with_content_types(client: AsyncTestClient) -> None:
    expected = {"/": "text/html", "/app/app.js": "text/javascript", "/app/app.css": "text/css"}
    for path, media_type in expected.items():
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].split(";")[0] == media_type, path


async def test_the_api_still_needs_a_token(client: AsyncTestClient) -> None:
    assert (await client.get("/api/v1/contacts")).status_code == 401
    assert (await client.get("/app/../api/v1/contacts")).status_code in {401, 404}


async def test_the_web_client_runs_under_a_strict_content_security_policy(client: AsyncTestClient) -> None:
    for path in ("/", "/app/app.js", "/app/app.css"):
        policy = (await client.get(path)).headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["default-src"] == "'none'", policy
        assert directives["script-src"] == "'self'", policy  # no inline script, no eval, no other host
        assert directives["connect-src"] == "'self'" and directives["frame-ancestors"] == "'none'", policy
        assert "unsafe" not in policy, policy


def test_the_web_client_keeps_its_token_out_of_web_storage() -> None:
    """Script injection reads localStorage and sessionStorage: the token lives in a variable of app.js only."""
    from kith.webclient import STATIC_DIR

    script = (STATIC_DIR / "app.js").read_text()
    assert "localStorage" not in script and "sessionStorage" not in script
