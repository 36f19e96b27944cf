"""A contact's links name its GitHub and X accounts (kith.identities.profile_keys): kept as contact_keys by API
writes, and by migration 0020 for contacts that existed before it, by the same rules."""

from __future__ import annotations

import importlib.util

from kith.db.paths import MIGRATIONS_DIR
from kith.identities import profile_keys

LINKS = [
    "https://github.com/Ada",
    "github.com/ada/engine",  # a repository, not a profile
    "https://www.github.com/orgs",  # one of GitHub's own pages
    "http://twitter.com/@Grace_H/",
    "https://mobile.x.com/grace_h?ref=1",
    "https://x.com/home",
    "https://x.com/far_too_long_a_handle",
    "https://www.linkedin.com/in/ada",
    "http://[::1",
]


def test_profile_keys_name_accounts_not_pages() -> None:
    assert profile_keys(LINKS) == [("github", "ada"), ("x", "grace_h")]


async def keys(conn, contact_id: int) -> list[tuple[str, str]]:
    rows = await conn.fetch(
        "SELECT kind, value FROM contact_keys WHERE contact_id = $1 ORDER BY kind, value", contact_id
    )
    return [(r["kind"], r["value"]) for r in rows]


async def test_api_writes_keep_the_account_keys(client, conn, make_tenant):
    tenant = await make_tenant()
    response = await client.post(
        "/api/v1/contacts",
        json={"full_name": "Ada", "emails": ["ada@example.com"], "links": ["https://github.com/Ada"]},
        headers=tenant.headers,
    )
    contact_id = response.json()["id"]
    assert await keys(conn, contact_id) == [("email", "ada@example.com"), ("github", "ada")]
    response = await client.patch(
        f"/api/v1/contacts/{contact_id}", json={"links": ["https://x.com/ada_l"]}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    assert await keys(conn, contact_id) == [("email", "ada@example.com"), ("x", "ada_l")]
    # Another contact naming the same account: created (no conflict), the account stays with the first.
    other = await client.post(
        "/api/v1/contacts", json={"full_name": "Ada again", "links": ["x.com/ADA_L"]}, headers=tenant.headers
    )
    assert other.status_code == 201 and await keys(conn, other.json()["id"]) == []


async def test_the_migration_finds_the_same_accounts(conn, make_tenant):
    tenant = await make_tenant()
    contact_id = await conn.fetchval(
        "INSERT INTO contacts (tenant_id, full_name, links) VALUES ($1, 'Old', $2) RETURNING id", tenant.id, LINKS
    )
    spec = importlib.util.spec_from_file_location("m0020", MIGRATIONS_DIR / "versions" / "0020_github_and_x.py")
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    await conn.execute(migration._BACKFILL)
    assert await keys(conn, contact_id) == sorted(profile_keys(LINKS))
