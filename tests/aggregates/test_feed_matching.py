"""Company detection in news items: whole words, normalized names, the tenant's live companies only;
an imported feed then shows in the companies' daily series."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

import pytest
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from kith.sync.companies import CompanyMatcher, normalize

NAMES = ["Acme", "ACME", "Acme Labs", "Zürich Re", "Pied Piper", "AT&T", "Inc.", "X", "株式会社テスト", "Straße AG"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Acme raises money", ["ACME", "Acme"]),
        ("acme labs and acme", ["ACME", "Acme", "Acme Labs"]),  # overlapping names all count
        ("Acmeville and NotAcme and acme_bot", []),  # word boundaries, underscores are word characters
        ("(Acme), Acme's, Acme.", ["ACME", "Acme"]),
        ("ZÜRICH   re\nrenews", ["Zürich Re"]),  # case folding, whitespace runs
        ("Zurich Re", []),  # accents are letters: no folding them away
        ("ＡＣＭＥ full-width", ["ACME", "Acme"]),  # NFKC
        ("STRASSE AG and Straße AG", ["Straße AG"]),  # casefold: ß is ss
        ("AT&T and AT&Tx", ["AT&T"]),
        ("Pied Piper's", ["Pied Piper"]),
        ("Inc.com and an Inc. filing", ["Inc."]),
        ("X marks the spot", []),  # one-character names are never matched
        ("新会社 株式会社テスト 発表", ["株式会社テスト"]),
        ("", []),
    ],
)
def test_matcher_finds_whole_normalized_names(text, expected):
    assert CompanyMatcher(NAMES).find(text) == expected


def test_matcher_reads_title_and_summary_and_skips_missing():
    matcher = CompanyMatcher(NAMES)
    assert matcher.find("Pied Piper news", None, "about AT&T") == ["AT&T", "Pied Piper"]
    assert CompanyMatcher([]).find("Acme") == []


def test_normalize():
    assert normalize("  Ａcme\t LABS ") == "acme labs"


def test_matcher_with_many_companies_matches_exactly():
    names = [f"Company {i:05d}" for i in range(20_000)]
    matcher = CompanyMatcher(names)
    assert matcher.size == 20_000
    assert matcher.find("Company 00042 buys Company 19999, not Company 000421") == ["Company 00042", "Company 19999"]


FEED = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><link>https://n.example/</link>
  <item><guid>https://n.example/1</guid><title>Zürich Re and ACME team up</title><pubDate>{d1}</pubDate></item>
  <item><guid>https://n.example/2</guid><title>Acmeville news</title><description>Ghost Co returns</description>
    <pubDate>{d1}</pubDate></item>
  <item><guid>https://n.example/3</guid><title>Quiet day</title><description>zürich re again</description>
    <pubDate>{d2}</pubDate></item>
</channel></rss>"""


async def test_imported_feed_names_live_companies_and_shows_in_the_daily_series(client, conn, make_tenant):
    tenant = await make_tenant()
    await conn.execute(
        """INSERT INTO contacts (tenant_id, full_name, company, deleted_at) VALUES
           ($1, 'A', 'Zürich Re', NULL), ($1, 'B', 'Acme', NULL), ($1, 'C', 'Ghost Co', now())""",
        tenant.id,
    )
    now = dt.datetime.now(dt.UTC)
    fmt = "%a, %d %b %Y %H:%M:%S +0000"
    feed = FEED.format(d1=(now - dt.timedelta(days=2)).strftime(fmt), d2=(now - dt.timedelta(days=5)).strftime(fmt))
    response = await client.post(
        "/api/v1/sync/rss", headers=tenant.headers, files={"file": ("f.rss", feed.encode(), "application/rss+xml")}
    )
    assert response.status_code == HTTP_202_ACCEPTED, response.text
    rows = await conn.fetch("SELECT dedupe_key, companies FROM mentions WHERE tenant_id = $1 ORDER BY 1", tenant.id)
    assert [r["companies"] for r in rows] == [["Acme", "Zürich Re"], [], ["Zürich Re"]]

    # The run's chain refreshed the read models: the series has both mentions, on their days.
    series = (
        await client.get(f"/api/v1/companies/{quote('Zürich Re')}/mentions/daily?days=7", headers=tenant.headers)
    ).json()["series"]
    assert [d["mentions"] for d in series].count(1) == 2 and sum(d["mentions"] for d in series) == 2
    ghost = await client.get(f"/api/v1/companies/{quote('Ghost Co')}/mentions/daily", headers=tenant.headers)
    assert ghost.status_code == 404
    assert (
        await client.get("/api/v1/companies/Acme/mentions/daily", headers=tenant.headers)
    ).status_code == HTTP_200_OK
