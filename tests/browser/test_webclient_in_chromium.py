"""The web client and the docs page in a real browser: Debian's Chromium, headless, driven by Selenium.

Kith runs as a user runs it (`kith serve`, a subprocess on 127.0.0.1 and a free port) on a database of
its own with a seeded tenant of 200 contacts. Where Chromium is not installed the tests are skipped and
say so (`.ci/run` installs it, so CI always runs them).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path

import asyncpg
import pytest

from kith.db.migrations import upgrade_async
from kith.db.urls import asyncpg_dsn

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
TENANT = "browser"
PAGE_SIZE = 50  # the client asks for pages of 50
DATA = Path(__file__).resolve().parents[1] / "data"

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="Chromium is not installed here (apt-get install chromium chromium-driver); CI installs it",
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _kith(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "kith", *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


class Server:
    def __init__(self, base: str, token: str, database_url: str, tenant_id: int) -> None:
        self.base, self.token, self.database_url, self.tenant_id = base, token, database_url, tenant_id


@pytest.fixture(scope="module")
async def server(create_database: Callable, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    url = await create_database("kith_browser")
    await upgrade_async(url)
    env = {**os.environ, "DATABASE_URL": url, "KITH_DATA_DIR": str(tmp_path_factory.mktemp("kith-data"))}
    env.pop("REDIS_URL", None)  # imports run in the server process
    tenant_id = int(_kith(env, "seed", "--tenant", TENANT, "--size", "tiny"))
    token = _kith(env, "token", "create", "--tenant", TENANT)
    # The module reads the API much as a person scrolling would, and more: not the default plan's 600 a minute.
    _kith(env, "plan", "create", "browser", "--requests-per-minute", "100000")
    _kith(env, "tenant", "set-plan", TENANT, "browser")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "kith", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
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


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="kith-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(condition: Callable[[], object], what: str, timeout: float = 30) -> object:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if result := condition():
                return result
        except (NoSuchElementException, StaleElementReferenceException):
            pass  # not rendered yet, or re-rendered meanwhile
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def rows(driver) -> list[dict]:
    return driver.execute_script(
        "return [...document.querySelectorAll('#contacts .contact-row')]"
        ".map(r => ({id: Number(r.dataset.id), score: Number(r.dataset.score), name: r.dataset.name}))"
    )


def scroll_to_the_end(driver) -> list[dict]:
    """Scroll as a user does until the client says the list has ended; the rows shown."""

    def ended() -> bool:
        driver.execute_script("window.scrollTo(0, document.body.scrollHeight)")
        return driver.find_element("id", "contacts-end").text == "end of list"

    wait_for(ended, "the end of the contact list")
    return rows(driver)


async def expected_ids(server: Server, order_by: str) -> list[int]:
    conn = await asyncpg.connect(asyncpg_dsn(server.database_url))
    try:
        records = await conn.fetch(
            f"SELECT id FROM contacts WHERE tenant_id = $1 AND deleted_at IS NULL ORDER BY {order_by}",
            server.tenant_id,
        )
    finally:
        await conn.close()
    return [r["id"] for r in records]


def sign_in(driver, server: Server) -> None:
    driver.get(f"{server.base}/")
    field = wait_for(
        lambda: driver.find_element("id", "token-input").is_displayed() and driver.find_element("id", "token-input"),
        "the sign-in form",
    )
    field.send_keys(server.token)
    driver.find_element("css selector", "#sign-in-form button[type=submit]").click()
    wait_for(lambda: len(rows(driver)) >= PAGE_SIZE, "the first page of contacts")
    # The token is kept in app.js's memory, where an injected script finds nothing to read.
    assert driver.execute_script("return localStorage.length + sessionStorage.length") == 0


async def test_contacts_scroll_by_cursor_each_row_once_in_order(browser, server: Server) -> None:
    sign_in(browser, server)

    by_score = scroll_to_the_end(browser)
    pages = int(browser.find_element("id", "contacts").get_attribute("data-pages"))

    assert pages >= 4  # past three pages of 50
    assert len(by_score) == len({r["id"] for r in by_score}) == 200  # no row repeats, none is missing
    assert [r["id"] for r in by_score] == await expected_ids(server, "score DESC, id DESC")
    assert all(a["score"] >= b["score"] for a, b in pairwise(by_score))

    browser.execute_script("window.scrollTo(0, 0)")
    select = browser.find_element("id", "sort")
    select.find_element("css selector", "option[value=name]").click()
    wait_for(lambda: rows(browser) and rows(browser)[0]["id"] != by_score[0]["id"], "the list sorted by name")
    by_name = scroll_to_the_end(browser)

    assert len(by_name) == len({r["id"] for r in by_name}) == 200
    assert [r["id"] for r in by_name] == await expected_ids(server, 'lower(full_name) COLLATE "C", id')

    # Back to score: page 1 was seen with an ETag, so the browser revalidates it and gets a 304.
    before = browser.execute_script("return window.kith.api.notModified")
    select.find_element("css selector", "option[value=score]").click()
    wait_for(lambda: browser.execute_script("return window.kith.api.notModified") > before, "a 304 on revalidation")
    wait_for(
        lambda: [r["id"] for r in rows(browser)][:PAGE_SIZE] == [r["id"] for r in by_score][:PAGE_SIZE], "page 1 again"
    )


async def test_a_contact_card_opens(browser, server: Server) -> None:
    sign_in(browser, server)
    first = browser.find_element("css selector", "#contacts .contact-row")
    name = first.get_attribute("data-name")
    first.click()

    heading = wait_for(lambda: browser.find_element("css selector", "#contact-card h2").text, "the contact card")
    labels = [dt.text for dt in browser.find_elements("css selector", "#contact-card dt")]
    values = [dd.text for dd in browser.find_elements("css selector", "#contact-card dd")]

    assert heading.startswith(name)
    assert "Last interaction" in labels and len(values) == len(labels)
    assert not any("object" in value for value in values)  # text, not stringified elements


async def test_the_docs_page_renders_its_operations(browser, server: Server) -> None:
    browser.get(f"{server.base}/schema")

    operations = wait_for(lambda: browser.find_elements("css selector", ".opblock"), "Swagger UI's operations")

    summaries = " ".join(op.text for op in operations)
    assert len(operations) >= 10
    assert "/api/v1/contacts" in summaries


def api_status(server: Server, path: str) -> int:
    request = urllib.request.Request(f"{server.base}{path}", headers={"Authorization": f"Bearer {server.token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def open_tab(driver, name: str) -> None:
    driver.find_element("css selector", f"#tabs button[data-tab={name}]").click()


async def test_birthdays_and_overdue_list_what_the_api_lists(browser, server: Server) -> None:
    sign_in(browser, server)
    for tab, path in [
        ("birthdays", "/api/v1/contacts/birthdays?within_days=30&limit=200"),
        ("overdue", "/api/v1/contacts/overdue?limit=200"),
    ]:
        open_tab(browser, tab)
        request = urllib.request.Request(f"{server.base}{path}", headers={"Authorization": f"Bearer {server.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            expected = [item["id"] for item in json.load(response)["items"]]

        def listed(tab: str = tab) -> tuple[list[int]] | None:
            items = browser.find_elements("css selector", f"#{tab} li")  # rows, or the line saying there are none
            return (
                ([int(li.get_attribute("data-id")) for li in items if li.get_attribute("data-id")],) if items else None
            )

        (ids,) = wait_for(listed, f"the {tab} list")
        assert ids == expected


async def test_optional_tabs_show_only_when_the_server_has_them(browser, server: Server) -> None:
    sign_in(browser, server)
    for tab, path in [("conversations", "/api/v1/conversations?limit=1"), ("dashboard", "/api/v1/dashboard")]:
        answers = api_status(server, path) == 200
        button = browser.find_element("css selector", f"#tabs button[data-tab={tab}]")
        wait_for(lambda b=button, a=answers: b.is_displayed() == a, f"the {tab} tab {'shown' if answers else 'hidden'}")
        if answers:
            button.click()
            content = "#conversations li" if tab == "conversations" else "#dashboard .tile"
            wait_for(lambda c=content: browser.find_elements("css selector", c), f"the {tab} content")


async def test_a_duplicate_is_previewed_merged_and_undone(browser, server: Server) -> None:
    """Two contacts sharing an email: the Duplicates tab previews their merge (dry run), merges, undoes."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from kith.db.urls import sqlalchemy_url
    from kith.people.service import find_duplicates

    conn = await asyncpg.connect(asyncpg_dsn(server.database_url))
    try:
        for name in ("Grace Hopper", "Grace B. Hopper"):
            await conn.execute(
                """INSERT INTO contacts (tenant_id, full_name, emails, identities)
                   VALUES ($1, $2, ARRAY['grace@navy.example'], ARRAY['email:grace@navy.example'])""",
                server.tenant_id,
                name,
            )
    finally:
        await conn.close()
    engine = create_async_engine(sqlalchemy_url(server.database_url))
    async with engine.begin() as sa_conn:
        await find_duplicates(sa_conn, server.tenant_id)
    await engine.dispose()
    sign_in(browser, server)
    open_tab(browser, "duplicates")

    group = wait_for(lambda: browser.find_element("css selector", "#duplicates .duplicate-group"), "a duplicate group")
    assert "same email grace@navy.example" in group.text
    live = len(await expected_ids(server, "id"))
    group.find_element("css selector", "button.preview").click()
    wait_for(lambda: group.find_elements("css selector", ".merged-card tr"), "the merged card (dry run)")
    assert "Grace Hopper" in group.find_element("css selector", ".merged-card").text
    assert len(await expected_ids(server, "id")) == live  # a dry run merges nothing
    group.find_element("css selector", "button.merge").click()
    wait_for(lambda: group.find_elements("css selector", "button.undo"), "the merge")
    assert len(await expected_ids(server, "id")) == live - 1
    group.find_element("css selector", "button.undo").click()
    wait_for(lambda: "Undone" in group.text, "the undo")
    assert len(await expected_ids(server, "id")) == live


async def test_import_form_uploads_and_follows_the_run(browser, server: Server) -> None:
    """Last in the module: it adds six contacts to the tenant."""
    sign_in(browser, server)
    open_tab(browser, "import")
    browser.find_element("css selector", "#import-form select[name=source] option[value=vcard]").click()
    browser.find_element("css selector", "#import-form input[type=file]").send_keys(str(DATA / "contacts.vcf"))
    browser.find_element("css selector", "#import-form button[type=submit]").click()

    # The client follows the run until its refresh has finished too (the run succeeds first).
    wait_for(lambda: "refresh: succeeded" in browser.find_element("id", "import-progress").text, "the run's refresh")
    text = browser.find_element("id", "import-progress").text
    assert browser.find_elements("css selector", "#import-progress .status.succeeded")

    assert "8 seen · 6 inserted · 0 updated · 0 skipped · 2 failed" in text
    assert "refresh: succeeded" in text
    assert "not imported: 1 PHOTO" in text


def api_json(server: Server, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"{server.base}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def api_all(server: Server, path: str) -> list[dict]:
    """Every item of a listing, following next cursors."""
    items, cursor = [], None
    while True:
        separator = "&" if "?" in path else "?"
        page = api_json(server, path + (f"{separator}cursor={cursor}" if cursor else ""))
        items += page["items"]
        if not (cursor := page["next_cursor"]):
            return items


def scroll_list_to_its_end(driver, list_id: str, upwards: bool = False, key: str = "id") -> list:
    """Scroll the list's end marker into view until it says the list ended; the rows' ids (or `key`), in order."""

    def ended() -> bool:
        driver.execute_script(
            "document.getElementById(arguments[0]).scrollIntoView({block: arguments[1] ? 'start' : 'end'})",
            f"{list_id}-end",
            upwards,
        )
        return driver.find_element("id", f"{list_id}-end").text == "end of list"

    wait_for(ended, f"the end of #{list_id}")
    values = driver.execute_script(
        "return [...document.querySelectorAll(`#${arguments[0]} > li[data-${arguments[1]}]`)]"
        ".map(li => li.dataset[arguments[1]])",
        list_id,
        key,
    )
    return [int(v) for v in values] if key == "id" else values


async def test_lists_scroll_to_their_end_by_cursor(browser, server: Server) -> None:
    sign_in(browser, server)
    open_tab(browser, "birthdays")
    browser.execute_script("document.getElementById('within-days').value = 366")
    browser.execute_script("document.getElementById('within-days').dispatchEvent(new Event('change'))")
    expected = [c["id"] for c in api_all(server, "/api/v1/contacts/birthdays?within_days=366&limit=50")]
    assert len(expected) > PAGE_SIZE  # more than one page to scroll through
    wait_for(lambda: scroll_list_to_its_end(browser, "birthdays") == expected, "every birthday, in order")

    open_tab(browser, "companies")
    expected = [c["name"] for c in api_all(server, "/api/v1/companies?limit=50")]
    assert len(expected) > PAGE_SIZE
    wait_for(lambda: scroll_list_to_its_end(browser, "companies", key="name") == expected, "every company")


async def test_a_thread_reads_oldest_first_shows_sent_messages_as_sent_and_keeps_line_breaks(
    browser, server: Server
) -> None:
    conversations = api_all(server, "/api/v1/conversations?limit=50")
    longest = max(conversations, key=lambda c: c["message_count"])
    assert longest["message_count"] > PAGE_SIZE  # the thread has older pages
    sent = api_json(server, f"/api/v1/conversations/{longest['id']}/messages", {"body": "first line\nsecond line"})
    contact = api_json(server, f"/api/v1/contacts/{longest['contact_id']}")

    sign_in(browser, server)
    open_tab(browser, "conversations")
    row = wait_for(
        lambda: browser.find_element("css selector", f"#conversations li[data-id='{longest['id']}']"),
        "the conversation in the list",
    )
    wait_for(lambda: contact["full_name"] in row.text, "whom the conversation is with, in the list")
    row.click()
    wait_for(lambda: contact["full_name"] in browser.find_element("id", "thread-with").text, "whom the thread is with")
    shown = scroll_list_to_its_end(browser, "thread", upwards=True)
    expected = [m["id"] for m in api_all(server, f"/api/v1/conversations/{longest['id']}/messages?limit=50")]
    assert shown == expected[::-1]  # every message once, oldest first

    messages = browser.execute_script(
        "return [...document.querySelectorAll('#thread > li[data-id]')]"
        ".map(li => ({id: Number(li.dataset.id), direction: li.dataset.direction, cls: li.className,"
        " body: li.querySelector('.body').innerText}))"
    )
    assert {m["direction"] for m in messages} == {"in", "out"}
    for message in messages:
        assert ("sent" in message["cls"].split()) == (message["direction"] == "out"), message
        assert ("received" in message["cls"].split()) == (message["direction"] == "in"), message
    newest = next(m for m in messages if m["id"] == sent["id"])
    assert newest["body"] == "first line\nsecond line" and "sent" in newest["cls"]


async def test_an_empty_thread_says_so(browser, server: Server) -> None:
    contact = api_all(server, "/api/v1/contacts?limit=50")[0]
    empty = api_json(server, "/api/v1/conversations", {"contact_id": contact["id"], "subject": "Nothing yet"})
    sign_in(browser, server)
    open_tab(browser, "conversations")
    row = wait_for(
        lambda: browser.find_element("css selector", f"#conversations li[data-id='{empty['id']}']"), "the new one"
    )
    row.click()
    wait_for(
        lambda: "No messages in this conversation yet" in browser.find_element("id", "thread").text,
        "the empty thread saying so",
    )
