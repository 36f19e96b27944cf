"""Google Contacts (both header layouts) and Outlook CSV exports: told apart by their header, read into the
same contact fields as a vCard; any other CSV is a 422 naming the formats."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from tests.sync.test_endpoints import nothing_written

from kith.sync.sources import (
    ContactRecord,
    PostalAddress,
    RelatedPerson,
    SourceFormatError,
    read_contacts_csv,
)

DATA = Path(__file__).resolve().parent.parent / "data"


async def read(name: str):
    with (DATA / name).open("rb") as stream:
        batches = [b async for b in read_contacts_csv(stream)]
    [batch] = batches
    return batch


async def test_google_contacts_csv() -> None:
    batch = await read("google_contacts.csv")
    karen, raj, plumber = batch.records
    assert karen == ContactRecord(
        full_name="Karen Müller",
        nickname="Kay",
        emails=["karen@mueller.example", "karen.m@mail.example", "karen@baeckerei.example"],
        phones=["+49 151 23456789"],
        company="Bäckerei Müller GmbH",
        title="Owner",
        department="Sales",
        tags=["Family"],
        birthday_month=7,
        birthday_day=14,
        links=["https://www.linkedin.com/in/karenmueller"],
        notes="Met at the market.\nBakes on Sundays.",
        addresses=[
            PostalAddress(label="home", street="Hauptstraße 5", locality="Berlin", postal_code="10115", country="DE")
        ],
        related=[RelatedPerson(name="Tom Müller", relation="Spouse")],
        source_index=0,
    )
    assert (raj.full_name, raj.birthday_year, raj.birthday_month, raj.birthday_day) == ("Raj Patel", 1990, 1, 31)
    assert (plumber.full_name, plumber.company, plumber.phones) == (
        "City Plumbing",
        "City Plumbing",
        ["+1 415 555 0199"],
    )
    assert [(e.source_index, e.reason) for e in batch.errors] == [
        (3, "line 8: row has no name, company, email or phone")
    ]
    assert batch.dropped == {"Photo": 1}


async def test_google_contacts_csv_older_layout() -> None:
    batch = await read("google_contacts_legacy.csv")
    [ana] = batch.records
    assert ana == ContactRecord(
        full_name="Ana Lima",
        nickname="Aninha",
        emails=["ana@example.com.br"],
        phones=["+55 11 91234-5678"],
        company="Banco Exemplo",
        title="Analyst",
        department="Risk",
        tags=["Friends", "Surf club"],
        birthday_month=11,
        birthday_day=2,
        birthday_year=1988,
        links=["ana.example.com.br"],
        addresses=[
            PostalAddress(
                label="work",
                street="Av. Paulista, 1000",
                locality="São Paulo",
                region="SP",
                postal_code="01310-100",
                country="Brasil",
            )
        ],
        related=[RelatedPerson(name="Pedro Lima", relation="Child")],
        source_index=0,
    )
    assert batch.dropped == {"Hobby": 1}


async def test_outlook_csv() -> None:
    batch = await read("outlook_contacts.csv")
    john, sam = batch.records
    assert john == ContactRecord(
        full_name="John Q Public",
        emails=["john.public@contoso.example"],
        phones=["(425) 555-0100", "(425) 555-0101"],
        company="Contoso",
        title="Program Manager",
        department="Devices",
        birthday_month=4,
        birthday_day=12,
        birthday_year=1985,
        links=["http://contoso.example/john"],
        notes="Prefers mornings.",
        addresses=[
            PostalAddress(
                label="work",
                street="1 Microsoft Way",
                locality="Redmond",
                region="WA",
                postal_code="98052",
                country="United States",
            )
        ],
        related=[
            RelatedPerson(name="Mary Public", relation="spouse"),
            RelatedPerson(name="Jane Boss", relation="manager"),
        ],
        source_index=0,
    )
    assert (sam.full_name, sam.birthday_month) == ("Sam Lee", None)
    assert batch.dropped == {"Title": 1, "Office Location": 1}


@pytest.mark.parametrize(
    "data",
    [
        b"First Name,Last Name,URL,Email Address,Company,Position,Connected On\nAda,L,x,,,,\n",  # LinkedIn's
        b"name,email\nAda,ada@example.org\n",
        (DATA / "takeout.mbox").read_bytes(),
    ],
)
async def test_another_file_is_a_format_error_naming_the_formats(data: bytes) -> None:
    with pytest.raises(SourceFormatError) as error:
        [b async for b in read_contacts_csv(io.BytesIO(data))]
    assert "Google Contacts CSV, Google Contacts CSV (older layout), Outlook CSV" in str(error.value)


async def test_upload_and_a_clear_422(client, conn, make_tenant):
    tenant = await make_tenant()
    for name in ("google_contacts.csv", "google_contacts_legacy.csv", "outlook_contacts.csv"):
        files = {"file": (name, (DATA / name).read_bytes(), "text/csv")}
        response = await client.post("/api/v1/sync/contacts_csv", headers=tenant.headers, files=files)
        assert response.status_code == 202, response.text
        run = (await client.get(response.headers["location"], headers=tenant.headers)).json()
        assert run["status"] == "succeeded", run
    names = [r["full_name"] for r in await conn.fetch("SELECT full_name FROM contacts WHERE tenant_id = $1", tenant.id)]
    assert sorted(names) == ["Ana Lima", "City Plumbing", "John Q Public", "Karen Müller", "Raj Patel", "Sam Lee"]

    other = await make_tenant()
    files = {"file": ("people.csv", b"name,email\nAda,ada@example.org\n", "text/csv")}
    response = await client.post("/api/v1/sync/contacts_csv", headers=other.headers, files=files)
    assert response.status_code == 422, response.text
    assert "none of: Google Contacts CSV, Google Contacts CSV (older layout), Outlook CSV" in response.json()["detail"]
    assert await nothing_written(conn, other.id)
