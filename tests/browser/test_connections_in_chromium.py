"""The web client's Connections page in Chromium: connect Google through the OAuth flow (the fake Google on
a local port approves at once and sends the browser back), see the first sync, sync again, disconnect."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from tests.browser.test_webclient_in_chromium import (
    Server,
    _free_port,
    _kith,
    browser,  # noqa: F401 - the module's Chromium
    open_tab,
    pytestmark,  # noqa: F401 - skipped where Chromium is not installed
    sign_in,
    wait_for,
)
from tests.fakes.google import FakeGoogle
from tests.fakes.server import serving

from kith.db.migrations import upgrade_async

TENANT = "browser"


@pytest.fixture(scope="module")
async def server(create_database: Callable, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    fake = FakeGoogle()
    fake.add_message("Ada Lovelace <ada@example.com>", fake.account, subject="Notes")
    fake.put_person("people/c1", "Grace Hopper", ["grace@example.com"])
    url = await create_database("kith_browser_connections")
    await upgrade_async(url)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with serving(fake.app()) as google:
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "KITH_DATA_DIR": str(tmp_path_factory.mktemp("kith-data")),
            "KITH_PUBLIC_URL": base,
            "KITH_GOOGLE_CLIENT_ID": fake.client_id,
            "KITH_GOOGLE_CLIENT_SECRET": fake.client_secret,
            "KITH_GOOGLE_AUTH_URL": f"{google}/o/oauth2/v2/auth",
            "KITH_GOOGLE_TOKEN_URL": f"{google}/token",
            "KITH_GMAIL_API_URL": google,
            "KITH_PEOPLE_API_URL": google,
            "KITH_CALENDAR_API_URL": google,
        }
        env.pop("REDIS_URL", None)  # the sync runs in the server process
        tenant_id = int(_kith(env, "seed", "--tenant", TENANT, "--size", "tiny"))
        token = _kith(env, "token", "create", "--tenant", TENANT)
        process = subprocess.Popen(
            [sys.executable, "-m", "kith", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 120  # a loaded machine starts it slowly; never go on without it
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/health", timeout=1):
                        break
                except OSError:
                    assert process.poll() is None, process.stderr.read().decode()
                    assert time.monotonic() < deadline, "kith serve did not answer /health within 120 s"
                    time.sleep(0.1)
            yield Server(base, token, url, tenant_id)
        finally:
            process.terminate()
            process.wait(timeout=30)


def connection_rows(driver) -> list[dict]:
    return driver.execute_script(
        "return [...document.querySelectorAll('#connections .connection-row')]"
        ".map(r => ({id: r.dataset.id, status: r.dataset.status, text: r.innerText}))"
    )


async def test_connect_sync_and_disconnect_from_the_connections_page(browser, server: Server) -> None:  # noqa: F811
    sign_in(browser, server)
    wait_for(lambda: browser.find_element("css selector", "#tabs button[data-tab=connections]").is_displayed(), "tab")
    open_tab(browser, "connections")
    wait_for(lambda: "No connection yet" in browser.find_element("id", "connections").text, "the empty list")

    browser.find_element("css selector", "#connect-form button[type=submit]").click()
    # Google approves and sends the browser back to the callback, which sends it on to /#connections.
    wait_for(lambda: browser.current_url.endswith("/#connections"), "the way back from Google")
    # The page was left for Google, and the token lives only in the page's memory: sign in again.
    sign_in(browser, server)
    open_tab(browser, "connections")
    [row] = wait_for(lambda: [r for r in connection_rows(browser) if "succeeded" in r["text"]], "the first sync")
    assert "google: me@example.com" in row["text"] and row["status"] == "active"

    # The list re-renders while a sync runs: a click retries on a row drawn anew (wait_for).
    def click(nth: int) -> bool:
        browser.find_elements("css selector", "#connections .connection-row button")[nth].click()
        return True

    wait_for(lambda: click(0), "Sync now")
    wait_for(lambda: "succeeded" in connection_rows(browser)[0]["text"], "the second sync")
    wait_for(lambda: click(1), "Disconnect")
    wait_for(lambda: "No connection yet" in browser.find_element("id", "connections").text, "the connection gone")
