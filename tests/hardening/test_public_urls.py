"""Location and Link never echo the Host header: absolute on KITH_PUBLIC_URL when it is set, relative otherwise."""

from __future__ import annotations

import re

import pytest

from kith.config import get_settings

VCARD = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada\r\nEMAIL:ada@example.org\r\nEND:VCARD\r\n"


@pytest.fixture
def public_url(monkeypatch):
    def configure(value: str | None) -> None:
        if value is None:
            monkeypatch.delenv("KITH_PUBLIC_URL", raising=False)
        else:
            monkeypatch.setenv("KITH_PUBLIC_URL", value)
        get_settings.cache_clear()

    yield configure
    get_settings.cache_clear()


async def urls_handed_out(client, make_tenant) -> tuple[str, list[str]]:
    tenant = await make_tenant()
    headers = {**tenant.headers, "Host": "evil.example"}
    for name in ("Ada", "Grace", "Edsger"):
        await client.post("/api/v1/contacts", json={"full_name": name}, headers=tenant.headers)
    upload = await client.post("/api/v1/sync/vcard", content=VCARD, headers={**headers, "Content-Type": "text/vcard"})
    assert upload.status_code == 202, upload.text
    first = await client.get("/api/v1/contacts?limit=1&sort=name", headers=headers)
    second = await client.get(re.search(r"<([^>]+)>", first.headers["link"]).group(1), headers=tenant.headers)
    links = re.findall(r"<([^>]+)>", first.headers["link"] + ", " + second.headers["link"])
    return upload.headers["location"], links


async def test_without_a_public_url_links_are_relative(client, make_tenant, public_url):
    public_url(None)
    location, links = await urls_handed_out(client, make_tenant)
    assert re.fullmatch(r"/api/v1/sync/runs/\d+", location)
    assert len(links) == 3 and all(link.startswith("/api/v1/contacts?") for link in links), links
    assert all("sort=name" in link and "limit=1" in link for link in links)


async def test_with_a_public_url_links_are_absolute_on_it(client, make_tenant, public_url):
    public_url("https://kith.example/")
    location, links = await urls_handed_out(client, make_tenant)
    assert re.fullmatch(r"https://kith\.example/api/v1/sync/runs/\d+", location)
    assert all(link.startswith("https://kith.example/api/v1/contacts?") for link in links), links


@pytest.mark.parametrize("value", ["kith.example", "ftp://kith.example", "https://kith.example/?x=1"])
def test_a_public_url_that_is_no_http_url_is_refused(public_url, value):
    public_url(value)
    with pytest.raises(ValueError, match="KITH_PUBLIC_URL"):
        get_settings()
