"""The contact listings, declared: each reads the contact_cards read model (and, live, the contacts an API
write changed since its refresh; see kith.readmodels.models and db/views/contact_cards.sql)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from litestar.params import Parameter

from kith.contacts.schemas import Contact, UpcomingBirthday
from kith.pagination.cache import PageCaching
from kith.pagination.listing import Filter, Listing, Sort
from kith.pagination.page import Page
from kith.readmodels.models import CONTACT_CARDS

# Everything a contact card shows is a column of the view, but whether a follow-up is overdue (relative to now).
CONTACT_COLUMNS = {"overdue": "coalesce(r.follow_up_due_key < now(), false)"}

CONTACTS = Listing(
    name="contacts",
    item=Contact,
    read_model=CONTACT_CARDS,
    columns=CONTACT_COLUMNS,
    sorts={
        "score": Sort(("score", "id"), (float, int), descending=True),
        "name": Sort(("name_key", "id"), (str, int), descending=False),
        # Never-contacted rows hold '-infinity' here, so they come last.
        "last_interaction": Sort(("last_interaction_key", "id"), (dt.datetime, int), descending=True),
        "created": Sort(("created_at", "id"), (dt.datetime, int), descending=True),
    },
    filters={
        "tag": Filter("r.tags @> ARRAY[CAST(:tag AS text)]", Annotated[str | None, Parameter(max_length=100)]),
        "company": Filter("r.company = :company", Annotated[str | None, Parameter(max_length=500)]),
        # Case-insensitive prefix of the name or of any email, as index ranges in C collation.
        "q": Filter(
            '((r.name_key >= lower(:q) COLLATE "C" AND r.name_key < (lower(:q) || chr(1114111)) COLLATE "C")'
            " OR r.id IN (SELECT k.contact_id FROM contact_keys k WHERE k.tenant_id = :tenant_id AND k.kind = 'email'"
            " AND k.value >= lower(:q) AND k.value < lower(:q) || chr(1114111)))",
            Annotated[str | None, Parameter(min_length=1, max_length=200, description="Name or email prefix")],
        ),
        "min_score": Filter("r.score >= :min_score", Annotated[float | None, Parameter(ge=0, le=100)]),
    },
)

OVERDUE = Listing(
    name="contacts.overdue",
    item=Contact,
    read_model=CONTACT_CARDS,
    columns=CONTACT_COLUMNS,
    # A cadence never met is due since '-infinity': the most overdue.
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
    sorts={"birthday": Sort(("birthday_mmdd", "id"), (int, int), descending=False)},
    context_types=(int,),
)


def overdue_turns(page: Page[Contact]) -> float | None:
    """When the first item not yet overdue becomes so (its `overdue` flag is computed against now)."""
    now = dt.datetime.now(dt.UTC)
    due = [c.follow_up_due_at for c in page.items if c.follow_up_due_at is not None and c.follow_up_due_at > now]
    return min(due).timestamp() if due else None


def overdue_listing_turns(page: Page[Contact]) -> float | None:
    """A contact turning overdue joins the overdue listing at its end (its due time is later than every
    overdue one's): only the last page (no next cursor) changes by the clock, and at any moment: not kept."""
    return 0.0 if page.next_cursor is None else None


# Pages of contact cards may be kept (kith.pagination.cache) until a write, a refresh or an overdue turn.
CONTACT_PAGES = PageCaching.of(CONTACTS, expires=overdue_turns)
OVERDUE_PAGES = PageCaching.of(OVERDUE, expires=overdue_listing_turns)
