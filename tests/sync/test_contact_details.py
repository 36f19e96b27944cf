"""What address books hold beyond names, emails and phones lands on the contact: nickname, department,
postal addresses, related people; a re-import of the same file changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

from tests.sync.test_pipeline import run_import

DATA = Path(__file__).resolve().parent.parent / "data"


async def test_vcard_details_land_on_the_contact(engine, conn, make_tenant):
    tenant = await make_tenant()
    data = (DATA / "apple_contacts.vcf").read_bytes()

    run = await run_import(engine, tenant, "vcard", data)

    assert (run.status, run.rows_inserted, run.rows_failed) == ("succeeded", 3, 0)
    assert run.stages["sync"]["dropped"] == {"X-ABLABEL": 3, "X-ABDATE": 1, "IMPP": 1, "RELATED": 1}
    rows = await conn.fetch(
        "SELECT full_name, nickname, department, addresses::text, related::text, links, phones, birthday_year"
        " FROM contacts WHERE tenant_id = $1 ORDER BY id",
        tenant.id,
    )
    johnny, phone_only, ana = rows
    assert (phone_only["full_name"], phone_only["phones"]) == ("+44 7700 900123", ["+44 7700 900123"])
    assert (johnny["nickname"], johnny["department"]) == ("Johnny Boy", "Hardware Engineering / Displays")
    assert json.loads(johnny["addresses"])[0] == {
        "label": "home",
        "extended": "Apt 4",
        "street": "1 Infinite Loop",
        "locality": "Cupertino",
        "region": "CA",
        "postal_code": "95014",
        "country": "United States",
    }
    assert json.loads(johnny["related"]) == [
        {"name": "Jane Appleseed", "relation": "spouse"},
        {"name": "Bobby", "relation": "godson"},
    ]
    assert johnny["links"] == ["https://johnny.example.com", "https://twitter.com/johnnyq"]
    assert johnny["birthday_year"] is None
    assert (ana["nickname"], json.loads(ana["related"])) == (
        "Aninha, Ana",
        [{"name": "Pedro Lima", "relation": "child"}],
    )

    again = await run_import(engine, tenant, "vcard", data)
    assert (again.rows_inserted, again.rows_updated) == (0, 0)


async def test_the_contacts_item_shows_what_the_import_kept(engine, client, make_tenant):
    tenant = await make_tenant()
    await run_import(engine, tenant, "vcard", (DATA / "apple_contacts.vcf").read_bytes())

    # Listed from the tenant's slice once the import's refresh has run, and read alone (live).
    listed = (await client.get("/api/v1/contacts?q=johnny%20boy", headers=tenant.headers)).json()["items"]
    assert len(listed) == 1
    one = (await client.get(f"/api/v1/contacts/{listed[0]['id']}", headers=tenant.headers)).json()
    for johnny in (listed[0], one):
        assert (johnny["nickname"], johnny["department"]) == ("Johnny Boy", "Hardware Engineering / Displays")
        assert johnny["addresses"][0] == {
            "label": "home",
            "extended": "Apt 4",
            "street": "1 Infinite Loop",
            "locality": "Cupertino",
            "region": "CA",
            "postal_code": "95014",
            "country": "United States",
        }
        assert johnny["related"] == [
            {"name": "Jane Appleseed", "relation": "spouse"},
            {"name": "Bobby", "relation": "godson"},
        ]
