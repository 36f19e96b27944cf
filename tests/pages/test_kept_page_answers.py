"""A kept page is answered right after authentication (kith.server.pages), as the handler answered it:
the same status, headers and body, HEAD without the body, a 304 as the handler makes one, compressed
when the client asks (through the compression pass), and never past the token's scope or limits."""

from __future__ import annotations

from litestar.testing import AsyncTestClient
from tests.conftest import read_plan_once
from tests.pages.test_page_cache import CONTACTS, add, listening

from kith.app import create_app
from kith.auth.service import create_token
from kith.db.session import standalone_session

# httpx asks for gzip by default: a kept page the client would get compressed is not answered early.
PLAIN = {"Accept-Encoding": "identity"}
# Headers that differ between any two answers (or count down within the window).
VOLATILE = {"date", "x-request-id", "ratelimit-remaining", "ratelimit-reset"}


def stable(headers) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name not in VOLATILE}


async def test_a_kept_page_is_answered_as_the_handler_answered_it(app, client, make_tenant, statements):
    tenant = await make_tenant()
    tenant.headers.update(PLAIN)
    await listening(app)
    for i in range(12):  # a body past KITH_COMPRESSION_MIN_BYTES
        await add(client, tenant, f"Person {i}")
    await read_plan_once(client, tenant.headers)
    statements.reset()
    first = await client.get(CONTACTS, params={"limit": 5}, headers=tenant.headers)
    assert first.status_code == 200 and statements.count == 1
    assert len(first.content) >= 1024 and "link" in first.headers
    statements.reset()
    again = await client.get(CONTACTS, params={"limit": 5}, headers=tenant.headers)
    assert statements.count == 0, statements.statements
    assert again.status_code == 200
    assert again.content == first.content
    assert stable(again.headers) == stable(first.headers)
    assert {"x-request-id", "ratelimit-remaining", "content-security-policy"} <= set(again.headers)

    head = await client.head(CONTACTS, params={"limit": 5}, headers=tenant.headers)
    assert head.status_code == 200 and head.content == b""
    assert stable(head.headers) == stable(first.headers)

    kept = await client.get(
        CONTACTS, params={"limit": 5}, headers={**tenant.headers, "If-None-Match": first.headers["etag"]}
    )
    assert kept.status_code == 304 and kept.content == b"" and statements.count == 0


async def test_a_304_of_a_kept_page_has_the_headers_of_the_handlers_304(db, app, client, make_tenant, statements):
    tenant = await make_tenant()
    tenant.headers.update(PLAIN)
    await listening(app)
    await add(client, tenant, "Ada")
    await read_plan_once(client, tenant.headers)
    first = await client.get(CONTACTS, headers=tenant.headers)
    revalidate = {**tenant.headers, "If-None-Match": f'W/{first.headers["etag"]}, "other"'}
    statements.reset()
    kept = await client.get(CONTACTS, headers=revalidate)
    assert kept.status_code == 304 and kept.content == b"" and statements.count == 0
    other_app = create_app(db)  # another process: the page is not kept there, its handler runs
    async with AsyncTestClient(app=other_app) as other:
        await read_plan_once(other, tenant.headers)
        handled = await other.get(CONTACTS, headers=revalidate)
    assert handled.status_code == 304 and handled.content == b""
    assert stable(kept.headers) == stable(handled.headers)


async def test_a_kept_page_is_compressed_for_a_client_that_asks(app, client, make_tenant, statements):
    tenant = await make_tenant()
    await listening(app)
    for i in range(30):
        await add(client, tenant, f"Person {i}")
    await read_plan_once(client, tenant.headers)
    first = await client.get(CONTACTS, headers=tenant.headers)
    assert len(first.content) >= 1024
    statements.reset()
    for encoding in ("br", "gzip"):
        response = await client.get(CONTACTS, headers={**tenant.headers, "Accept-Encoding": encoding})
        assert response.headers["content-encoding"] == encoding
        assert response.json() == first.json()
        assert response.headers["etag"] == first.headers["etag"]
    assert statements.count == 0  # kept, compressed on the way out


async def test_a_kept_page_is_not_answered_past_the_tokens_scope(db, app, client, make_tenant):
    tenant = await make_tenant("scoped-reader")
    await listening(app)
    await add(client, tenant, "Ada")
    assert (await client.get(CONTACTS, headers=tenant.headers)).status_code == 200  # kept now
    async with standalone_session(db) as session:
        import_only = await create_token(session, "scoped-reader", scopes=["import"])
    refused = await client.get(CONTACTS, headers={"Authorization": f"Bearer {import_only}"})
    assert refused.status_code == 403
    assert refused.json()["required_scope"] == "read"
    assert (await client.get(CONTACTS)).status_code == 401
