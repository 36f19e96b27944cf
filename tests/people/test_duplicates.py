"""Duplicate candidates: found in one statement per tenant on each kind of shared identity and on similar
names at one company, never on near-misses; listed strongest first, one statement a page; dismissed for good;
never across tenants."""

from __future__ import annotations

import asyncpg
from tests.conftest import read_plan_once

from kith.people.service import find_duplicates


async def create(client, tenant, **body) -> int:
    response = await client.post("/api/v1/contacts", headers=tenant.headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def insert_sharing_email(conn: asyncpg.Connection, tenant_id: int, name: str, email: str) -> int:
    """A second holder of an email (the API refuses one; an import whose record held two contacts' keys,
    or data from before keys, makes one)."""
    return await conn.fetchval(
        """INSERT INTO contacts (tenant_id, full_name, emails, identities) VALUES ($1, $2, ARRAY[$3], ARRAY['email:' || lower($3)])
           RETURNING id""",
        tenant_id,
        name,
        email,
    )


async def find(engine, tenant_id: int) -> dict:
    async with engine.begin() as conn:
        return await find_duplicates(conn, tenant_id)


async def listed(client, tenant, **params) -> list[dict]:
    response = await client.get("/api/v1/contacts/duplicates", headers=tenant.headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_candidates_on_each_key_and_similar_names_at_one_company_not_on_near_misses(
    client, conn, engine, make_tenant
):
    tenant = await make_tenant()
    ada = await create(client, tenant, full_name="Ada Lovelace", emails=["ada@example.org"])
    ada_again = await insert_sharing_email(conn, tenant.id, "A. Lovelace", "ADA@example.org")
    phone_a = await create(client, tenant, full_name="Grace", phones=["+1 (202) 555-0143"])
    phone_b = await create(client, tenant, full_name="Grace Hopper", phones=["+12025550143"])
    url_a = await create(client, tenant, full_name="Linus", links=["https://linkedin.com/in/Linus-T/"])
    url_b = await create(client, tenant, full_name="L. Torvalds", links=["http://www.linkedin.com/in/linus-t"])
    jon = await create(client, tenant, full_name="Jon Smith", company="Acme")
    john = await create(client, tenant, full_name="John Smith", company="ACME")
    # Near misses: another number, another person at the same company, the same name elsewhere.
    await create(client, tenant, full_name="Grace", phones=["+12025550144"])
    await create(client, tenant, full_name="Ann Smith", company="Acme")
    await create(client, tenant, full_name="Bob Smith", company="Acme")
    await create(client, tenant, full_name="John Smith", company="Globex")
    other = await make_tenant()  # the same people in another tenant are nobody's duplicates here
    await create(client, other, full_name="Ada Lovelace", emails=["ada@example.org"])

    assert (await find(engine, tenant.id))["groups"] == 4
    groups = {tuple(g["contact_ids"]): g for g in await listed(client, tenant)}

    assert set(groups) == {(ada, ada_again), (phone_a, phone_b), (url_a, url_b), (jon, john)}
    assert groups[(ada, ada_again)]["reasons"] == [{"kind": "email", "value": "ada@example.org", "confidence": 0.95}]
    assert groups[(phone_a, phone_b)]["reasons"][0]["value"] == "+12025550143"
    assert groups[(url_a, url_b)]["reasons"][0] == {
        "kind": "url",
        "value": "https://www.linkedin.com/in/linus-t",
        "confidence": 0.9,
    }
    (reason,) = groups[(jon, john)]["reasons"]
    assert reason["kind"] == "name_company" and reason["value"] == "acme" and 0 < reason["confidence"] < 0.6
    assert [m["full_name"] for m in groups[(jon, john)]["contacts"]] == ["Jon Smith", "John Smith"]
    assert await find(engine, other.id) == {"groups": 0, "stored": 0, "gone": 0}


async def test_groups_are_listed_strongest_first_one_statement_a_page(client, conn, engine, make_tenant, statements):
    tenant = await make_tenant()
    # Two reasons (an email and similar names at one company) outweigh one.
    both = [
        await create(client, tenant, full_name="Maria Garcia", company="Initech", emails=["maria@initech.example"]),
        await insert_sharing_email(conn, tenant.id, "Mario Garcia", "maria@initech.example"),
    ]
    await conn.execute("UPDATE contacts SET company = 'Initech' WHERE id = $1", both[1])
    await create(client, tenant, full_name="Jon Smith", company="Acme")
    await create(client, tenant, full_name="John Smith", company="Acme")
    await create(client, tenant, full_name="Ann", emails=["ann@example.org"])
    await insert_sharing_email(conn, tenant.id, "Annie", "ann@example.org")
    await find(engine, tenant.id)

    await read_plan_once(client, tenant.headers)
    walked, cursor = [], None
    while True:
        statements.reset()
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/contacts/duplicates", headers=tenant.headers, params=params)).json()
        assert statements.count == 1, statements.statements  # the page (a known token needs no query)
        walked += page["items"]
        if not (cursor := page["next_cursor"]):
            break
    assert walked[0]["contact_ids"] == both
    assert [g["confidence"] for g in walked] == sorted((g["confidence"] for g in walked), reverse=True)
    assert len(walked) == 3


async def test_a_dismissed_group_does_not_return_and_is_audited(client, conn, engine, make_tenant):
    tenant = await make_tenant()
    await create(client, tenant, full_name="Jon Smith", company="Acme")
    await create(client, tenant, full_name="John Smith", company="Acme")
    await find(engine, tenant.id)
    (group,) = await listed(client, tenant)
    other = await make_tenant()
    foreign = await client.post(f"/api/v1/contacts/duplicates/{group['id']}/dismiss", headers=other.headers)
    assert foreign.status_code == 404  # another tenant's group looks missing

    dismissed = await client.post(f"/api/v1/contacts/duplicates/{group['id']}/dismiss", headers=tenant.headers)
    assert dismissed.status_code == 204, dismissed.text
    await find(engine, tenant.id)

    assert await listed(client, tenant) == []
    again = await client.post(f"/api/v1/contacts/duplicates/{group['id']}/dismiss", headers=tenant.headers)
    assert again.status_code == 404
    audit = (await client.get("/api/v1/audit", headers=tenant.headers)).json()["items"]
    assert [(e["action"], e["subject"]["group_id"]) for e in audit] == [("dismiss_duplicates", group["id"])]
    assert audit[0]["token_id"] is not None
    assert (await client.get("/api/v1/audit", headers=other.headers)).json()["items"] == []
