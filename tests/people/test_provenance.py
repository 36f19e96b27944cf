"""Field provenance and precedence, through the API as a user meets them: an edit survives every
re-import, a vCard and a LinkedIn export no longer flip-flop, a keyless card is imported once, and any
order of the same files converges to the same contacts, writing nothing the second time."""

from __future__ import annotations

import itertools

import asyncpg

VCARD = b"""BEGIN:VCARD
VERSION:3.0
UID:siobhan-1
FN:Dr. Siobh\xc3\xa1n M\xc3\xa1ire O'Brien PhD
EMAIL:siobhan@obrien.example
TEL:+353 1 234 5678
ORG:Globex
TITLE:Head of Partnerships
CATEGORIES:Work
URL:https://www.linkedin.com/in/siobhan-obrien
END:VCARD
BEGIN:VCARD
VERSION:3.0
FN:Globex Reception
ORG:Globex
END:VCARD
"""

LINKEDIN = (
    "First Name,Last Name,URL,Email Address,Company,Position,Connected On\n"
    "Siobh\u00e1n,O'Brien,https://www.linkedin.com/in/siobhan-obrien,siobhan@obrien.example,Globex Ireland,"
    '"Head of Partnerships, EMEA",05 Mar 2024\n'
).encode()

MBOX = b"""From 1@xxx Mon Mar 04 08:15:00 +0000 2024
Date: Mon, 04 Mar 2024 09:15:00 +0100
Message-ID: <m1@obrien.example>
Subject: Partnership
From: Siobhan OBrien <siobhan@obrien.example>
To: Me <me@example.org>
Content-Type: text/plain

Shall we talk on Friday?

"""

FILES = {"vcard": VCARD, "linkedin": LINKEDIN, "mbox": MBOX}
SIOBHAN = "siobhan@obrien.example"


async def import_file(client, tenant, source: str) -> dict:
    response = await client.post(
        f"/api/v1/sync/{source}",
        headers={**tenant.headers, "Content-Type": "application/octet-stream"},
        params={"me": "me@example.org"} if source == "mbox" else {},
        content=FILES[source],
    )
    assert response.status_code == 202, response.text
    run = (await client.get(f"/api/v1/sync/runs/{response.json()['id']}", headers=tenant.headers)).json()
    assert run["status"] == "succeeded", run
    return run


async def contact_id(conn: asyncpg.Connection, tenant_id: int, email: str = SIOBHAN) -> int:
    return await conn.fetchval(
        "SELECT id FROM contacts WHERE tenant_id = $1 AND $2 = ANY (emails) AND deleted_at IS NULL", tenant_id, email
    )


async def card(client, tenant, contact: int) -> dict:
    response = await client.get(f"/api/v1/contacts/{contact}", headers=tenant.headers, params={"include": "provenance"})
    assert response.status_code == 200, response.text
    return response.json()


async def cards(conn: asyncpg.Connection, tenant_id: int) -> list[tuple]:
    """The tenant's contacts as values (sets as sets): what must not depend on the order of imports."""
    rows = await conn.fetch(
        """SELECT full_name, company, title, notes, birthday_month, emails, phones, tags, links
           FROM contacts WHERE tenant_id = $1 AND deleted_at IS NULL""",
        tenant_id,
    )
    return sorted(tuple(sorted(v) if isinstance(v, list) else v for v in r) for r in rows)


async def xmins(conn: asyncpg.Connection, tenant_id: int) -> list:
    """Every row of the tenant's contacts and keys with its xmin: equal lists mean nothing was written."""
    return [
        tuple(r)
        for table in ("contacts", "contact_keys")
        for r in await conn.fetch(f"SELECT xmin::text, id FROM {table} WHERE tenant_id = $1 ORDER BY id", tenant_id)
    ]


async def test_an_edited_title_survives_the_reimport_of_the_same_vcard(client, conn, make_tenant):
    tenant = await make_tenant()
    await import_file(client, tenant, "vcard")
    contact = await contact_id(conn, tenant.id)
    patched = await client.patch(f"/api/v1/contacts/{contact}", headers=tenant.headers, json={"title": "CEO"})
    assert patched.status_code == 200, patched.text

    run = await import_file(client, tenant, "vcard")
    await import_file(client, tenant, "linkedin")  # a source that outranks the vCard for titles

    body = await card(client, tenant, contact)
    assert body["title"] == "CEO"
    assert body["provenance"]["title"]["source"] == "user"
    assert (run["rows_inserted"], run["rows_updated"]) == (0, 0)


async def test_provenance_names_the_source_and_record_of_each_value(client, conn, make_tenant):
    tenant = await make_tenant()
    await import_file(client, tenant, "vcard")
    await import_file(client, tenant, "linkedin")
    body = await card(client, tenant, await contact_id(conn, tenant.id))

    provenance = body["provenance"]
    assert body["full_name"] == "Dr. Siobhán Máire O'Brien PhD"  # the address book's name outranks LinkedIn's
    assert (provenance["full_name"]["source"], provenance["full_name"]["record"]) == ("vcard", "siobhan-1")
    assert body["title"] == "Head of Partnerships, EMEA"  # LinkedIn's title outranks the address book's
    assert provenance["title"]["source"] == "linkedin"
    assert provenance["title"]["record"] == "https://www.linkedin.com/in/siobhan-obrien"
    assert provenance["emails"][SIOBHAN]["source"] == "vcard"
    assert provenance["tags"]["Work"]["source"] == "vcard"
    assert "at" in provenance["full_name"]
    # Without the parameter a contact looks as it always did.
    plain = await client.get(f"/api/v1/contacts/{body['id']}", headers=tenant.headers)
    assert "provenance" not in plain.json()
    bad = await client.get(f"/api/v1/contacts/{body['id']}", headers=tenant.headers, params={"include": "x"})
    assert bad.status_code == 400


async def test_alternating_vcard_and_linkedin_imports_stop_changing_the_contact(client, conn, make_tenant):
    tenant = await make_tenant()
    runs = [await import_file(client, tenant, source) for source in ["vcard", "linkedin"] * 3]

    assert [(r["rows_inserted"], r["rows_updated"]) for r in runs[2:]] == [(0, 0)] * 4
    body = await card(client, tenant, await contact_id(conn, tenant.id))
    assert (body["full_name"], body["title"], body["company"]) == (
        "Dr. Siobhán Máire O'Brien PhD",
        "Head of Partnerships, EMEA",
        "Globex Ireland",
    )


async def test_a_card_without_uid_or_email_is_imported_once(client, conn, make_tenant):
    tenant = await make_tenant()
    runs = [await import_file(client, tenant, "vcard") for _ in range(4)]

    count = "SELECT count(*) FROM contacts WHERE tenant_id = $1 AND full_name = 'Globex Reception'"
    assert await conn.fetchval(count, tenant.id) == 1
    assert [(r["rows_inserted"], r["rows_updated"]) for r in runs] == [(2, 0), (0, 0), (0, 0), (0, 0)]


async def test_values_the_user_removed_or_cleared_stay_removed(client, conn, make_tenant):
    tenant = await make_tenant()
    await import_file(client, tenant, "vcard")
    contact = await contact_id(conn, tenant.id)
    patch = {"tags": [], "notes": None, "title": None, "emails": ["s@personal.example"]}
    assert (await client.patch(f"/api/v1/contacts/{contact}", headers=tenant.headers, json=patch)).status_code == 200

    run = await import_file(client, tenant, "vcard")  # still matched: by its UID and its phone

    body = await card(client, tenant, contact)
    assert (body["tags"], body["title"], body["emails"]) == ([], None, ["s@personal.example"])
    assert body["provenance"]["emails"][SIOBHAN]["removed"] is True
    assert (run["rows_inserted"], run["rows_updated"]) == (0, 0)


async def test_a_contact_created_through_the_api_is_only_filled_in_by_imports(client, conn, make_tenant):
    tenant = await make_tenant()
    created = await client.post(
        "/api/v1/contacts",
        headers=tenant.headers,
        json={"full_name": "Siobhán", "emails": [SIOBHAN], "title": "Friend"},
    )
    assert created.status_code == 201, created.text

    await import_file(client, tenant, "vcard")

    body = await card(client, tenant, created.json()["id"])
    assert (body["full_name"], body["title"], body["company"]) == ("Siobhán", "Friend", "Globex")
    assert body["provenance"]["company"]["source"] == "vcard"
    assert "+353 1 234 5678" in body["phones"]


async def test_every_order_of_the_files_converges_and_a_second_pass_writes_nothing(client, conn, make_tenant):
    converged = []
    for order in itertools.permutations(FILES):
        tenant = await make_tenant()
        for source in order:
            await import_file(client, tenant, source)
        before = await xmins(conn, tenant.id)
        for source in order:
            run = await import_file(client, tenant, source)
            assert (run["rows_inserted"], run["rows_updated"]) == (0, 0), (order, source)
        assert await xmins(conn, tenant.id) == before, order
        converged.append(await cards(conn, tenant.id))
    assert all(c == converged[0] for c in converged)
    assert len(converged[0]) == 2  # Siobhán and the reception desk
