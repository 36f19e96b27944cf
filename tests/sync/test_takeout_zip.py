"""A Google Takeout .zip is read as the files inside it, decompressed as they are parsed (an upload is read
from its stored chunks, seeking to the archive's directory), with zip-bomb limits."""

from __future__ import annotations

import io
import random
import zipfile
from pathlib import Path

from tests.sync.test_endpoints import nothing_written

from kith.sync.sources import read_mbox
from kith.sync.sources.archive import MAX_RATIO

DATA = Path(__file__).resolve().parent.parent / "data"


def takeout(*, filler_bytes: int = 0, with_mail: bool = True) -> bytes:
    """A zip laid out as Google Takeout writes one; `filler_bytes` of incompressible HTML first."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        noise = random.Random(1).randbytes(filler_bytes).hex()[:filler_bytes]
        archive.writestr("Takeout/archive_browser.html", f"<html><body>{noise}</body></html>")
        if with_mail:
            archive.write(DATA / "takeout.mbox", "Takeout/Mail/All mail Including Spam and Trash.mbox")
        archive.write(DATA / "contacts.vcf", "Takeout/Contacts/My Contacts/My Contacts.vcf")
        archive.write(DATA / "apple_contacts.vcf", "Takeout/Contacts/Family/Family.vcf")
    return out.getvalue()


async def upload(client, tenant, source: str, data: bytes):
    files = {"file": ("takeout-20240310T120000Z-001.zip", data, "application/zip")}
    return await client.post(f"/api/v1/sync/{source}?me=me@gmail.com", headers=tenant.headers, files=files)


async def test_a_takeout_zip_is_read_as_its_files(client, conn, make_tenant):
    tenant = await make_tenant()
    data = takeout(filler_bytes=3 << 20)  # past the format check's head and several 1 MiB chunks
    assert len(data) > 1 << 20  # two stored chunks at least

    response = await upload(client, tenant, "mbox", data)
    assert response.status_code == 202, response.text
    run = (await client.get(response.headers["location"], headers=tenant.headers)).json()
    plain = [b async for b in read_mbox(DATA / "takeout.mbox", own_addresses=["me@gmail.com"])]
    assert run["status"] == "succeeded", run
    assert run["rows_inserted"] == sum(len(b.records) for b in plain) > 0

    response = await upload(client, tenant, "vcard", data)
    run = (await client.get(response.headers["location"], headers=tenant.headers)).json()
    # Both address books in the archive: 6 + 3 contacts; indexes count on across files.
    assert (run["status"], run["rows_inserted"], run["rows_seen"]) == ("succeeded", 9, 11), run
    assert [e["index"] for e in run["errors"]] == [4, 7]


async def test_an_archive_without_the_sources_files_or_a_zip_bomb_is_422(client, conn, make_tenant):
    tenant = await make_tenant()
    response = await upload(client, tenant, "mbox", takeout(with_mail=False))
    assert response.status_code == 422, response.text
    assert "holds no .mbox file" in response.json()["detail"]

    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Takeout/Mail/All mail.mbox", b"From x@xxx Mon Mar 04 08:15:00 +0000 2024\n" + bytes(50 << 20))
    response = await upload(client, tenant, "mbox", bomb.getvalue())
    assert response.status_code == 422, response.text
    assert f"expands more than {MAX_RATIO} times" in response.json()["detail"]
    assert await nothing_written(conn, tenant.id)


async def test_kith_import_checks_a_local_archive_whole() -> None:
    import pytest

    from kith.sync.cli_import import check_file
    from kith.sync.sources import SourceFormatError

    await check_file("vcard", io.BytesIO(takeout(filler_bytes=200_000)))
    with pytest.raises(SourceFormatError, match=r"holds no \.mbox file"):
        await check_file("mbox", io.BytesIO(takeout(with_mail=False)))
