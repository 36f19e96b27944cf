"""The contact listings, declared: each reads the contact_cards read model (and, live, the contacts an API
write changed since its refresh; see kith.readmodels.models and db/views/contact_cards.sql)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from litestar.params import Parameter

from kith.contacts.schemas import Contact, UpcomingBirthday
from kith.contacts.search import SearchQuery, like_body
from kith.pagination.cache import PageCaching
from kith.pagination.listing import Filter, Listing, Sort
from kith.pagination.page import Page
from kith.readmodels.models import CONTACT_CARDS

# Everything a contact card shows is a column of the view, but whether a follow-up is overdue and by how many
# whole days (relative to now).
CONTACT_COLUMNS = {
    "overdue": "coalesce(r.follow_up_due_key < now(), false)",
    "overdue_days": "CASE WHEN r.follow_up_due_key < now()"
    " THEN floor(extract(epoch FROM now() - r.follow_up_due_key) / 86400)::integer END",
}

# The card's JSON (postal addresses, related names): passed to the body as stored.
CONTACT_JSON = frozenset({"addresses", "related"})

# A search first glances at SEARCH_GLANCE rows of the sort's index (an index-only scan: each holds the
# search key): a term on 1 row in 80 fills the page there. The glance is also a sample: a term with at
# least SEARCH_DENSE matches per row of the page in it (1 row in 340 or more) walks on, up to SEARCH_PROBE
# rows, where it is expected to fill the page. A rarer one reads up to SEARCH_FIRST matches on the trigram
# index: fewer are all of them, sorted there (an email, a phone, most names and companies); each costs its
# heap row (about 1.7 µs with the rest of its way; a company's sit together on its pages, ReadModel.
# physical_order). A term with more walks the probe, and one clustered past it is read whole on the trigram
# index. The bounds balance the walk's rows (0.3–0.4 µs each) against the matches' rows for tenants of
# 100,000 to 1,000,000 contacts: the two ways cross near 1 row in 330. A pattern without a run of three
# letters or digits has no trigram to look up (the index would be read whole): it walks. See
# loadtests/bench_search.py and docs/benchmarks.md.
SEARCH_GLANCE = 4000
SEARCH_DENSE = 0.235
SEARCH_FIRST = 4000
SEARCH_PROBE = 25_000
SEARCH_PATTERN = "(SELECT '%' || kith_search_text(CAST(:q AS text)) || '%')"
# What a walk tests on each row it reads: the pattern's text (LIKE's escapes taken out) found in the key.
# strpos searches for a string; LIKE matches a pattern character by character, 2× the cost a row. Before it,
# the key's bits (migration 0031): a row missing a bit of one of the text's trigrams cannot hold it, and
# testing the bits costs a quarter of strpos (0.03 µs a row of the walk's 0.3 on 1,000,000 contacts).
SEARCH_NEEDLE = "kith_search_text(regexp_replace(CAST(:q AS text), '\\\\(.)', '\\1', 'g'))"
SEARCH_BITS = f"(SELECT kith_search_query_bits({SEARCH_NEEDLE}))"
# No bit of the text's outside the key's: the text's bits asked for once.
SEARCH_CHECK = f"(~r.search_bits & {SEARCH_BITS}) = 0 AND strpos(r.search_key, (SELECT {SEARCH_NEEDLE})) > 0"

# What the trigram index is asked: the rare parts of the pattern, by the slice's statistics
# (kith_search_indexed, migration 0027; `{relation}` is the slice read). Some trigrams are in most keys (a
# word boundary's padded ones, an email's "exa" and "com", a company suffix's "lab"), and looking up their
# long lists cost up to 17 ms of a page on 1,000,000 contacts. Every match of the pattern matches the rare
# parts in order; the pattern itself is checked on the rows found. A slice without statistics yet, or a
# pattern without a word: the pattern as it is.
SEARCH_INDEXED = (
    f"r.search_key LIKE coalesce((SELECT kith_search_indexed('{{relation}}', CAST(:q AS text))), {SEARCH_PATTERN})"
)

# A query the statistics bound to fewer than SEARCH_FEW keys of the slice (kith_search_keys, migration 0028:
# the fewest keys holding one of its trigrams) skips the glance and reads its matches first: at most about
# SEARCH_FIRST even where the sample undercounts by half. The glance only guesses how common a term is, and
# for terms on 0.1–0.3% of 1,000,000 contacts it guessed a walk that did not fill the page (8–15 ms).
SEARCH_FEW = 2000
SEARCH_FEWER = f"(SELECT kith_search_keys('{{relation}}', CAST(:q AS text)) < {SEARCH_FEW})"

CONTACTS = Listing(
    name="contacts",
    item=Contact,
    read_model=CONTACT_CARDS,
    columns=CONTACT_COLUMNS,
    raw_json=CONTACT_JSON,
    sorts={
        "score": Sort(("score", "id"), (float, int), descending=True),
        "name": Sort(("name_key", "id"), (str, int), descending=False),
        # Never-contacted rows hold '-infinity' here, so they come last.
        "last_interaction": Sort(("last_interaction_key", "id"), (dt.datetime, int), descending=True),
        "created": Sort(("created_at", "id"), (dt.datetime, int), descending=True),
    },
    filters={
        "tag": Filter(
            "r.tag_keys @> ARRAY[lower(CAST(:tag AS text))]", Annotated[str | None, Parameter(max_length=100)]
        ),
        "company": Filter("r.company_key = lower(:company)", Annotated[str | None, Parameter(max_length=500)]),
        # Any part of the search key (see db/views/contact_cards.sql), on its trigram index; `q` arrives as a
        # LIKE pattern body (search.like_body), unaccented and lower-cased here as the key was.
        # The pattern is a subquery so that it is computed once (an InitPlan), not per row read.
        "q": Filter(
            f"r.search_key LIKE {SEARCH_PATTERN}",
            SearchQuery,
            like_body,
            probe=SEARCH_PROBE,
            first=SEARCH_FIRST,
            glance=SEARCH_GLANCE,
            dense=SEARCH_DENSE,
            indexed=SEARCH_INDEXED,
            few=SEARCH_FEWER,
            check=SEARCH_CHECK,
            usable=f"{SEARCH_PATTERN} ~ '[[:alnum:]]{{3}}'",
        ),
        "min_score": Filter("r.score >= :min_score", Annotated[float | None, Parameter(ge=0, le=100)]),
    },
)

OVERDUE = Listing(
    name="contacts.overdue",
    item=Contact,
    read_model=CONTACT_CARDS,
    columns=CONTACT_COLUMNS,
    raw_json=CONTACT_JSON,
    sorts={"overdue": Sort(("follow_up_due_key", "id"), (dt.datetime, int), descending=False)},
    scope="r.follow_up_due_key < now()",
)

# Upcoming birthdays: segments per year of the window (see service.birthday_plan); the cursor carries
# the day the walk started on, so a walk across midnight stays one listing.
BIRTHDAYS = Listing(
    name="contacts.birthdays",
    item=UpcomingBirthday,
    read_model=CONTACT_CARDS,
    columns=CONTACT_COLUMNS,
    raw_json=CONTACT_JSON,
    sorts={"birthday": Sort(("birthday_mmdd", "id"), (int, int), descending=False)},
    context_types=(int,),
)


def overdue_turns(page: Page[Contact]) -> float | None:
    """When an item's `overdue` flag or its `overdue_days` next changes (both are computed against now): an
    item not yet overdue turns so at follow_up_due_at, an overdue one counts one more day a day later."""
    now = dt.datetime.now(dt.UTC)
    turns = [
        due if due > now else due + dt.timedelta(days=(c.overdue_days or 0) + 1)
        for c in page.items
        if (due := c.follow_up_due_at) is not None
    ]
    return min(turns).timestamp() if turns else None


def overdue_listing_turns(page: Page[Contact]) -> float | None:
    """A contact turning overdue joins the overdue listing at its end (its due time is later than every
    overdue one's): only the last page (no next cursor) changes by the clock, and at any moment: not kept.
    Another page changes when one of its items counts one more day overdue."""
    return 0.0 if page.next_cursor is None else overdue_turns(page)


# Pages of contact cards may be kept (kith.pagination.cache) until a write, a refresh or an overdue turn.
CONTACT_PAGES = PageCaching.of(CONTACTS, expires=overdue_turns)
OVERDUE_PAGES = PageCaching.of(OVERDUE, expires=overdue_listing_turns)
