"""The sync API: uploads (multipart, raw, JSON push) → 202 and a run that completes in the background;
413 beyond the limit, 422 for a file that is not its format (nothing written); run listings and tenant isolation."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import asyncpg
import pytest

from kith.config import get_settings
from kith.sync.schemas import SourceName
from kith.sync.sources import SOURCES

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture
def upload_limit(monkeypatch):
    monkeypatch.setenv("KITH_MAX_UPLOAD_BYTES", "4096")
    get_settings.cache_clear()
    yield 4096
    get_settings.cache_clear()


async def nothing_written(conn: asyncpg.Connection, tenant_id: int) -> bool:
    counts = await conn.fetchrow(
        """SELECT (SELECT count(*) FROM sync_runs WHERE tenant_id = $1) AS runs,
                  (SELECT count(*) FROM sync_uploads WHERE tenant_id = $1) AS chunks,
                  (SELECT count(*) FROM contacts WHERE tenant_id = $1) AS contacts""",
        tenant_id,
    )
    return tuple(counts) == (0, 0, 0)


def multipart(name: str, content_type: str = "application/octet-stream") -> dict:
    return {"files": {"file": (name, (DATA / name).read_bytes(), content_type)}}


async def test_upload_returns_202_and_the_run_completes(client, conn, make_tenant):
    tenant = await make_tenant()
    response = await client.post(
        "/api/v1/sync/vcard", headers=tenant.headers, **multipart("contacts.vcf", "text/vcard")
    )

    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued" and body["source"] == "vcard" and body["errors"] == []
    assert response.headers["location"].endswith(f"/api/v1/sync/runs/{body['id']}")
    # In-process until the job queue lands: the run has finished once the response is complete.
    run = (await client.get(f"/api/v1/sync/runs/{body['id']}", headers=tenant.headers)).json()
    assert run["status"] == "succeeded"
    assert (run["rows_seen"], run["rows_inserted"], run["rows_failed"]) == (8, 6, 2)
    assert [e["index"] for e in run["errors"]] == [4, 7]
    assert set(run["stages"]) == {"sync", "score", "refresh"}
    assert run["stages"]["sync"]["dropped"] == {"PHOTO": 1, "X-ABLABEL": 1}  # the run says what it left out
    assert await conn.fetchval("SELECT count(*) FROM contacts WHERE tenant_id = $1", tenant.id) == 6
    assert await conn.fetchval("SELECT count(*) FROM sync_uploads") == 0
    # The import shows in the listings once the refresh that follows it has run.
    listed = (await client.get("/api/v1/contacts?limit=200", headers=tenant.headers)).json()["items"]
    assert len(listed) == 6


async def test_raw_body_upload_with_window(client, conn, make_tenant):
    tenant = await make_tenant()
    response = await client.post(
        "/api/v1/sync/mbox?since=2024-03-05&me=me@gmail.com",
        headers={**tenant.headers, "Content-Type": "application/mbox"},
        content=(DATA / "takeout.mbox").read_bytes(),
    )
    assert response.status_code == 202, response.text
    assert response.json()["since"] == "2024-03-05T00:00:00Z"
    run = (await client.get(f"/api/v1/sync/runs/{response.json()['id']}", headers=tenant.headers)).json()
    assert run["status"] == "succeeded" and run["rows_inserted"] == 3
    messages = await conn.fetch(
        "SELECT direction, sent_at FROM messages WHERE tenant_id = $1 ORDER BY sent_at", tenant.id
    )
    # Alice's reply of Mar 5, Bob's undated message (its From line says Mar 6), the note to self
    assert [m["direction"] for m in messages] == ["in", "in", "out"]


async def test_linkedin_json_push(client, conn, make_tenant):
    tenant = await make_tenant()
    push = [
        {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "url": "https://www.linkedin.com/in/ada",
            "connected_on": "2024-01-02",
        },
        {"first_name": "Bad", "connected_on": "someday"},
    ]
    response = await client.post("/api/v1/sync/linkedin", headers=tenant.headers, json=push)
    assert response.status_code == 202, response.text
    run = (await client.get(f"/api/v1/sync/runs/{response.json()['id']}", headers=tenant.headers)).json()
    assert (run["rows_inserted"], run["rows_failed"]) == (1, 1)
    assert await conn.fetchval("SELECT full_name FROM contacts WHERE tenant_id = $1", tenant.id) == "Ada Lovelace"


# ---------------------------------------------------------------- hostile uploads: 4xx, nothing written


async def test_oversized_upload_is_413(client, conn, make_tenant, upload_limit):
    tenant = await make_tenant()
    big = b"BEGIN:VCARD\r\nFN:X\r\nEND:VCARD\r\n" * 1000
    response = await client.post("/api/v1/sync/vcard", headers=tenant.headers, content=big)
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["max_bytes"] == upload_limit

    # Without a Content-Length the limit is enforced as the body streams in.
    request = client.build_request("POST", "/api/v1/sync/vcard", headers=tenant.headers, content=big)
    del request.headers["Content-Length"]
    response = await client.send(request)
    assert response.status_code == 413
    response = await client.post("/api/v1/sync/vcard", headers=tenant.headers, files={"file": ("big.vcf", big)})
    assert response.status_code == 413
    assert await nothing_written(conn, tenant.id)


@pytest.mark.parametrize(
    "source, file",
    [
        ("vcard", "notvcard.vcf"),
        ("rss", "notafeed.rss"),
        ("mbox", "contacts.vcf"),
        ("linkedin", "takeout.mbox"),
        ("vcard", "takeout.mbox"),
    ],
)
async def test_a_file_that_is_not_its_format_is_422(client, conn, make_tenant, source, file):
    tenant = await make_tenant()
    response = await client.post(f"/api/v1/sync/{source}", headers=tenant.headers, **multipart(file))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["title"] == "Unprocessable Entity" and problem["source"] == source
    assert await nothing_written(conn, tenant.id)


@pytest.mark.parametrize(
    "source, kwargs, status",
    [
        ("linkedin", {"content": b'{"not": "an array"}', "headers": {"Content-Type": "application/json"}}, 422),
        ("linkedin", {"content": b"[{]", "headers": {"Content-Type": "application/json"}}, 422),
        ("vcard", {"json": [{"full_name": "x"}]}, 415),
        ("vcard", {"content": b""}, 400),
        (
            "vcard",
            {
                "content": b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--x--\r\n",
                "headers": {"Content-Type": "multipart/form-data; boundary=x"},
            },
            400,
        ),
        ("outlook", {"content": b"x"}, 400),
    ],
)
async def test_bad_uploads_are_4xx(client, conn, make_tenant, source, kwargs, status):
    tenant = await make_tenant()
    headers = {**tenant.headers, **kwargs.pop("headers", {})}
    response = await client.post(f"/api/v1/sync/{source}", headers=headers, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await nothing_written(conn, tenant.id)


@pytest.mark.parametrize("query", ["since=yesterday", "days_back=0", "since=2024-01-01&days_back=3"])
async def test_bad_window_is_400(client, conn, make_tenant, query):
    tenant = await make_tenant()
    response = await client.post(f"/api/v1/sync/vcard?{query}", headers=tenant.headers, **multipart("contacts.vcf"))
    assert response.status_code == 400
    assert await nothing_written(conn, tenant.id)


# ---------------------------------------------------------------- reading runs


async def test_runs_are_listed_newest_first_by_cursor(client, conn, make_tenant):
    tenant, other = await make_tenant(), await make_tenant()
    await conn.execute(
        """INSERT INTO sync_runs (tenant_id, source, created_at)
           SELECT $1, 'vcard', '2024-01-01'::timestamptz + (i % 3) * interval '1 day' FROM generate_series(1, 7) i""",
        tenant.id,
    )
    await conn.execute("INSERT INTO sync_runs (tenant_id, source) VALUES ($1, 'rss')", other.id)
    expected = [
        r["id"]
        for r in await conn.fetch(
            "SELECT id FROM sync_runs WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC", tenant.id
        )
    ]

    seen, cursor = [], None
    while True:
        response = await client.get(
            "/api/v1/sync/runs", headers=tenant.headers, params={"limit": 3, **({"cursor": cursor} if cursor else {})}
        )
        assert response.status_code == 200
        page = response.json()
        seen += [r["id"] for r in page["items"]]
        assert all("errors" not in r for r in page["items"])
        if not (cursor := page["next_cursor"]):
            break
    assert seen == expected

    # Back from the last page, with its prev cursor.
    back = (
        await client.get(
            "/api/v1/sync/runs", headers=tenant.headers, params={"limit": 3, "cursor": page["prev_cursor"]}
        )
    ).json()
    assert [r["id"] for r in back["items"]] == expected[3:6]

    first = await client.get("/api/v1/sync/runs", headers=tenant.headers, params={"limit": 3})
    foreign = await client.get(
        "/api/v1/sync/runs", headers=(await make_tenant()).headers, params={"cursor": first.json()["next_cursor"]}
    )
    assert foreign.status_code == 400
    for bad in ({"limit": 0}, {"limit": 201}, {"cursor": "garbage"}):
        assert (await client.get("/api/v1/sync/runs", headers=tenant.headers, params=bad)).status_code == 400


async def test_another_tenants_run_is_404(client, conn, make_tenant):
    alice, bob = await make_tenant(), await make_tenant()
    response = await client.post("/api/v1/sync/rss", headers=alice.headers, **multipart("feed.rss"))
    run_id = response.json()["id"]
    assert (await client.get(f"/api/v1/sync/runs/{run_id}", headers=alice.headers)).status_code == 200
    missing = await client.get(f"/api/v1/sync/runs/{run_id}", headers=bob.headers)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/api/v1/sync/runs", headers=bob.headers)).json()["items"] == []


@pytest.mark.parametrize("run_id", ["0", "-3", "99999999999999999999999", "abc"])
async def test_bad_run_ids_are_4xx_problems(client, make_tenant, run_id):
    tenant = await make_tenant()
    response = await client.get(f"/api/v1/sync/runs/{run_id}", headers=tenant.headers)
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_an_unknown_source_is_400_naming_the_sources(client, conn, make_tenant):
    tenant = await make_tenant()
    response = await client.post("/api/v1/sync/outlook", headers=tenant.headers, content=b"First Name\n")

    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["sources"] == list(SOURCES) == list(get_args(SourceName))
    assert problem["detail"] == f"No import source named 'outlook'; the sources are: {', '.join(SOURCES)}"
    assert await nothing_written(conn, tenant.id)
