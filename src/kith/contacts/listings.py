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

# A search first glances at SEARCH_GLANCE rows of the sort's index: a term on 1 row in 100 (a common
# name) fills the page there, in 2 ms on 1,000,000 contacts where its first 2,000 matches on the trigram
# index took 22 ms (their heap rows are read to check them). Else it reads up to SEARCH_FIRST matches on
# the trigram index: fewer are all of them, sorted there
# (a rare term: an email, a phone, most names). A term with more walks up to SEARCH_PROBE rows of the sort's
# index, which holds the search key (an index-only scan, a few times cheaper a row than a match's heap
# page), where a term on 1 row in 500 fills a page; a term clustered past them is read whole on the trigram
# index. The bounds balance the two reads for tenants of 100,000 to 1,000,000 contacts. A pattern without a
# run of three letters or digits has no trigram to look up (the index would be read whole): it walks. See
# loadtests/bench_search.py and docs/benchmarks.md.
SEARCH_FIRST = 2000
SEARCH_GLANCE = 5000
SEARCH_PROBE = 25_000
SEARCH_PATTERN = "(SELECT '%' || kith_search_text(CAST(:q AS text)) || '%')"

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
