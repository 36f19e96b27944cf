"""`q` finds people by any part of a name, an email, a phone's digits or a company, ignoring case and accents;
tag and company filters ignore case. Read from the view (after a refresh) and live (after an API write) alike."""

from __future__ import annotations

import json
from dataclasses import replace

import asyncpg
import pytest
from tests.conftest import connect

from kith.contacts.listings import CONTACTS
from kith.contacts.search import like_body
from kith.db.reads import READER_SERVER_SETTINGS, driver_sql
from kith.db.urls import asyncpg_dsn
from kith.pagination.listing import ListingRequest
from kith.readmodels.coalesced_refresh import refresh_all
from kith.readmodels.models import CONTACT_CARDS

PEOPLE = [
    {
        "full_name": "Karen Anne Müller",
        "emails": ["k.mueller@Example.ORG"],
        "phones": ["+49 (30) 901-820"],
        "company": "Ørsted Energy",
        "tags": ["Climbing"],
    },
    {"full_name": "Bob Stone", "emails": ["bob@stone.example"], "company": "Acme", "tags": ["work"]},
    {"full_name": "Li 100%_Real", "emails": [], "company": None, "tags": []},
]

FINDS_KAREN = [
    "muller",
    "Müller",
    "MÜLLER",
    "ülle",
    "anne",
    "anne m",
    "KIKI",
    "mueller@example",
    "EXAMPLE.org",
    "90182",
    "+49 30 901",
    "orsted",
    "ØRSTED ENERGY",
]


async def names(client, headers, **params) -> list[str]:
    response = await client.get("/api/v1/contacts", params={"sort": "name", **params}, headers=headers)
    assert response.status_code == 200, response.text
    return [item["full_name"] for item in response.json()["items"]]


@pytest.fixture(params=["live", "refreshed"])
async def people(request, db, client, make_tenant):
    tenant = await make_tenant("search")
    for person in PEOPLE:
        created = await client.post("/api/v1/contacts", json=person, headers=tenant.headers)
        assert created.status_code == 201, created.text
    conn = await connect(db)  # the API does not write nicknames (imports do)
    try:
        await conn.execute(
            "UPDATE contacts SET nickname = 'Kiki', changed_at = now() WHERE tenant_id = $1 AND full_name LIKE 'Karen%'",
            tenant.id,
        )
    finally:
        await conn.close()
    if request.param == "refreshed":
        await refresh_all(db)
    return tenant


async def test_q_finds_people_by_any_part_ignoring_case_and_accents(client, people):
    for q in FINDS_KAREN:
        assert await names(client, people.headers, q=q) == ["Karen Anne Müller"], q
    assert await names(client, people.headers, q="müller ørsted") == []  # name and company are separate
    assert await names(client, people.headers, q="%") == ["Li 100%_Real"]  # LIKE's characters match themselves
    assert await names(client, people.headers, q="0%_r") == ["Li 100%_Real"]
    assert await names(client, people.headers, q="b_b") == []
    assert await names(client, people.headers, q="bo") == ["Bob Stone"]  # too short for a trigram: a walk
    for empty in ("", "   "):  # no filter
        assert len(await names(client, people.headers, q=empty)) == len(PEOPLE)


@pytest.mark.parametrize(
    ("glance", "dense", "first", "probe"),
    [
        (0, 0, 1000, 1000),
        (0, 0, 5, 1000),
        (0, 0, 5, 10),
        (1000, 0, 5, 10),
        (4, 0, 1000, 1000),
        (4, 0, 5, 1000),
        (4, 0, 5, 10),
        (4, 0.1, 1000, 1000),
        (4, 0.1, 1000, 10),
    ],
    ids=[
        "every match read first",
        "the walk fills the page",
        "every match read after a short walk",
        "the glance fills the page",
        "a short glance, then every match read first",
        "a short glance, then the walk",
        "a short glance, a short walk, then every match",
        "a dense glance, then the walk",
        "a dense glance, a short walk, then every match",
    ],
)
@pytest.mark.parametrize("statistics", [True, False], ids=["rare parts asked", "whole pattern asked"])
async def test_each_way_a_search_reads_gives_the_same_pages(
    db, engine, make_tenant, glance, dense, first, probe, statistics
):
    """Bounds this small make each part of the probing filter (kith.pagination.listing) pick the pages; the
    trigram index is asked for the query's rare parts (the slice's statistics) or, without them, for all of it."""
    tenant = await _sixty_people_every_third_a_lindqvist(db, make_tenant)
    if not statistics:
        conn = await connect(db)
        try:
            await conn.execute("DELETE FROM search_trigrams WHERE relation = $1", _slice(tenant.id))
        finally:
            await conn.close()
    spec = replace(CONTACTS.filters["q"], glance=glance, dense=dense, first=first, probe=probe)
    listing = replace(CONTACTS, filters={**CONTACTS.filters, "q": spec})
    seen, cursor = [], None
    while True:
        request = ListingRequest(tenant.id, 7, cursor=cursor, sort="score", filters={"q": like_body("LINDQ")})
        page = await listing.page(engine, request)
        seen += [item.full_name for item in page.items]
        if (cursor := page.next_cursor) is None:
            break
    assert seen == [f"Person {i:02d} Lindqvist" for i in range(60, 0, -3)]


async def test_a_query_the_statistics_bound_as_few_reads_its_matches_without_a_glance(db, make_tenant):
    """kith_search_keys bounds a query's matches by the fewest keys holding one of its trigrams (the whole
    slice is the sample of a small one, so the bound is exact); a query bound under SEARCH_FEW skips the glance
    (nothing read there), one without statistics glances first, and both give the same page."""
    tenant = await _sixty_people_every_third_a_lindqvist(db, make_tenant)
    relation = _slice(tenant.id)
    conn = await connect(db)
    try:
        fewest = await conn.fetchval(
            f"SELECT min(n) FROM (SELECT count(*) FILTER (WHERE r.search_key LIKE '%' || g || '%') AS n"
            f" FROM {relation} r, unnest(ARRAY['lin', 'ind', 'ndq']) g GROUP BY g) c"
        )
        assert fewest >= 20
        assert await conn.fetchval("SELECT kith_search_keys($1, 'LINDQ')", relation) == fewest
        assert await conn.fetchval("SELECT kith_search_keys($1, 'zz')", relation) is None  # no word to bound
    finally:
        await conn.close()

    query = CONTACTS.prepare(ListingRequest(tenant.id, 7, sort="score", filters={"q": like_body("LINDQ")}))
    sql, names = driver_sql(query.statement)
    args = [query.params[n] for n in names]

    async def glanced_and_page() -> tuple[int, list[str]]:
        reader = await asyncpg.connect(asyncpg_dsn(db), server_settings=READER_SERVER_SETTINGS)
        try:
            plan = json.loads(await reader.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, *args))
            page = [row["full_name"] for row in await reader.fetch(sql, *args) if row["segment"] is not None]
        finally:
            await reader.close()
        glances = [node for node in _nodes(plan[0]["Plan"]) if node.get("Subplan Name") == "CTE glance_0"]
        assert len(glances) == 1, plan
        return glances[0]["Actual Rows"], page

    few, page = await glanced_and_page()
    conn = await connect(db)
    try:
        await conn.execute("DELETE FROM search_trigrams WHERE relation = $1", relation)
    finally:
        await conn.close()
    unknown, same_page = await glanced_and_page()
    assert few == 0 and unknown > 0
    assert page == same_page
    assert page[:7] == [f"Person {i:02d} Lindqvist" for i in range(60, 39, -3)]


def _nodes(node: dict) -> list[dict]:
    return [node, *(n for child in node.get("Plans", []) for n in _nodes(child))]


async def _sixty_people_every_third_a_lindqvist(db, make_tenant):
    """A tenant of 60 people scored 1–60, every third a Lindqvist (at the top of the score order or not), in
    its slice after a refresh."""
    tenant = await make_tenant()
    conn = await connect(db)
    try:
        await conn.execute(
            "INSERT INTO contacts (tenant_id, full_name, score) SELECT $1,"
            " 'Person ' || lpad(i::text, 2, '0') || CASE WHEN i % 3 = 0 THEN ' Lindqvist' ELSE '' END, i"
            " FROM generate_series(1, 60) i",
            tenant.id,
        )
    finally:
        await conn.close()
    await refresh_all(db)
    return tenant


def _slice(tenant_id: int) -> str:
    return CONTACT_CARDS.slice_of(tenant_id).relation


# Words of a synthetic address book: every email ends in "example.com", a third of the companies in "labs".
FIRST = ["ada", "boris", "chiara", "dmitri", "esme", "farid", "greta", "hamid", "ines", "jonas", "kwame", "lucia"]
LAST = ["okafor", "lindqvist", "yamada", "novak", "silva", "haddad", "kowalski", "ferreira", "nakamura", "osei"]


async def test_the_index_is_asked_for_the_rare_parts_of_a_query(db, client, make_tenant):
    """After a refresh the slice has trigram statistics; the pattern asked of the index leaves out what most
    keys hold ("example.com", a company suffix), and every key the query matches also matches it."""
    tenant = await make_tenant()
    conn = await connect(db)
    try:
        await conn.execute(
            "INSERT INTO contacts (tenant_id, full_name, emails, company)"
            " SELECT $1, f || ' ' || l, ARRAY[f || '.' || l || '.' || i || '@example.com'],"
            "  CASE WHEN i % 3 = 0 THEN initcap(l) || ' Labs' ELSE initcap(f) || ' and Sons' END"
            " FROM unnest($2::text[]) f, unnest($3::text[]) l, generate_series(1, 3) i",
            tenant.id,
            FIRST,
            LAST,
        )
        await refresh_all(db)
        relation = _slice(tenant.id)
        assert await conn.fetchval("SELECT count(*) FROM search_trigrams WHERE relation = $1", relation) > 0
        pattern = await conn.fetchval("SELECT kith_search_indexed($1, 'greta.yamada.2@example.com')", relation)
        assert pattern is not None and not {"exa", "amp", "com"} & set(pattern.strip("%").split("%")), pattern
        assert await names(client, tenant.headers, q="Greta.Yamada.2@example.com") == ["greta yamada"]
        # Every query matches a superset with what is asked of the index: not one key matches the query alone.
        keys = [
            row["search_key"]
            for row in await conn.fetch(f"SELECT search_key FROM {relation} WHERE tenant_id = $1", tenant.id)
        ]
        queries = {key[start : start + length] for key in keys[::7] for start in (0, 3, 9) for length in (4, 9, 17)}
        queries |= {"Yamada Labs", "lucia.osei", "ines", "and sons", "\\%", "o.1@"}
        missed = await conn.fetch(
            f"SELECT q, search_key FROM unnest($2::text[]) q, {relation} r WHERE r.tenant_id = $1"
            " AND r.search_key LIKE '%' || kith_search_text(q) || '%'"
            " AND NOT r.search_key LIKE coalesce(kith_search_indexed($3, q), '%' || kith_search_text(q) || '%')",
            tenant.id,
            [like_body(q) for q in queries],
            relation,
        )
        assert missed == []
    finally:
        await conn.close()


# Keys of many scripts and shapes: accents, ligatures, Cyrillic, Greek, CJK, apostrophes, digits, emails.
BITS_KEYS = [
    "Karen Anne Müller\nk.mueller@example.org\n4930901820",
    "Zoë O'Brien-Ångström\nzoe_ob@host-1.example",
    "Иван Петров\nivan.petrov@почта.example",
    "王小明 Wang\n8613800138000",
    "Ærøskøbing Æble ﬁne straße\nSØREN@X.DK",
    "Γιώργος Παπαδόπουλος\ngeorge+tag@mail.example",
    "Li 100%_Real\nDunder Mifflin Labs\nA1B2C3d4e5",
]


async def test_a_keys_bits_hold_the_bits_of_every_part_of_it(db):
    """Every substring of a key (of up to 12 characters, as `q` arrives: the key's own text) has only bits the key
    has, so the walk's bit test never drops a match; and the bits tell keys apart (a query's bits are missing
    from most keys without it)."""
    conn = await connect(db)
    try:
        missed = await conn.fetch(
            """
            SELECT k.key, p.part
            FROM (SELECT kith_search_text(key) AS key FROM unnest($1::text[]) key) k
            CROSS JOIN LATERAL generate_series(1, length(k.key)) i
            CROSS JOIN LATERAL generate_series(1, 12) n
            CROSS JOIN LATERAL (SELECT substr(k.key, i, n) AS part) p
            WHERE i + n - 1 <= length(k.key)
              AND kith_search_bits(k.key) & kith_search_query_bits(p.part) <> kith_search_query_bits(p.part)
            """,
            BITS_KEYS,
        )
        assert missed == []
        told_apart = await conn.fetchval(
            "SELECT count(*) FROM unnest($1::text[]) key"
            " WHERE kith_search_bits(kith_search_text(key)) & kith_search_query_bits('mifflin')"
            " = kith_search_query_bits('mifflin')",
            BITS_KEYS,
        )
        assert told_apart == 1
    finally:
        await conn.close()


async def test_tag_and_company_filters_ignore_case(client, people):
    assert await names(client, people.headers, tag="climbing") == ["Karen Anne Müller"]
    assert await names(client, people.headers, tag="WORK") == ["Bob Stone"]
    assert await names(client, people.headers, company="acme") == ["Bob Stone"]
    assert await names(client, people.headers, company="ørsted energy") == ["Karen Anne Müller"]


def test_like_body_strips_phone_punctuation_and_escapes_like():
    assert like_body("+1 (555) 010-1234") == "15550101234"
    assert like_body("a_b%c\\") == "a\\_b\\%c\\\\"
    assert like_body("  ") is None
    assert like_body("Müller") == "Müller"
