"""The aggregate listings, declared: companies, a company's contacts, tags, news mentions.

Companies and tags read their materialized views (as of their refresh: aggregates are not merged
with live rows); `name` is unique per tenant, so it ends every sort key. A company's contacts are
the contact listing with the company as scope; mentions read the base table.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from litestar.params import Parameter

from kith.aggregates.schemas import Company, Mention, Tag
from kith.contacts.listings import CONTACT_COLUMNS, CONTACT_JSON, CONTACTS
from kith.contacts.schemas import Contact
from kith.pagination.listing import Filter, Listing, Sort
from kith.pagination.params import parse_time, time_parameter
from kith.problems import in_words
from kith.readmodels.models import COMPANY_STATS, CONTACT_CARDS, TAG_STATS

# PostgreSQL text cannot hold NUL: a name with one is a 400, not a driver error.
NO_NUL = in_words(r"^[^\x00]*$", "text without NUL characters")

# Case-insensitive name prefix, as an index range in C collation.
NAME_PREFIX = Filter(
    '(r.name_key >= lower(:q) COLLATE "C" AND r.name_key < (lower(:q) || chr(1114111)) COLLATE "C")',
    Annotated[str | None, Parameter(min_length=1, max_length=200, pattern=NO_NUL, description="Name prefix")],
)

COMPANIES = Listing(
    name="companies",
    item=Company,
    read_model=COMPANY_STATS,
    sorts={
        "contacts": Sort(("contacts", "name"), (int, str), descending=True),
        "score": Sort(("avg_score", "name"), (float, str), descending=True),
        "recent_activity": Sort(("recent_activity", "name"), (int, str), descending=True),
        "name": Sort(("name_key", "name"), (str, str), descending=False),
    },
    default_sort="contacts",
    filters={"q": NAME_PREFIX},
)

# The contact listing (same sorts, filters and cursor rules) scoped to one company, each sort on its
# (tenant_id, company_key, key…) index of contact_cards. A company is known if the tenant's company_stats has
# it or a contact an API write changed since the refresh (f.as_of, the older of the two read models') works
# there (what the live branch shows); one of neither tenant is a 404. (Both are unique or narrow index
# probes, whatever the company.)
COMPANY_CONTACTS = Listing(
    name="companies.contacts",
    item=Contact,
    read_model=CONTACT_CARDS,
    columns=CONTACT_COLUMNS,
    raw_json=CONTACT_JSON,
    sorts=CONTACTS.sorts,
    default_sort="score",
    filters={name: spec for name, spec in CONTACTS.filters.items() if name != "company"},
    # company_key leads the per-company indexes; the company itself is as written (company_stats.name).
    scope="r.company_key = lower(:company) AND r.company = :company",
    guard=lambda tenant_id: (
        f"(EXISTS (SELECT 1 FROM {COMPANY_STATS.slice_of(tenant_id).relation} s"
        " WHERE s.tenant_id = :tenant_id AND s.name = :company)"
        " OR EXISTS (SELECT 1 FROM contacts c WHERE c.tenant_id = :tenant_id"
        " AND c.changed_at >= f.as_of AND c.changed_at < 'infinity'"  # bounded: see pagination.listing
        " AND c.company = :company AND c.deleted_at IS NULL))"
    ),
    guard_reads=(COMPANY_STATS,),
    missing="No such company",
)

TAGS = Listing(
    name="tags",
    item=Tag,
    read_model=TAG_STATS,
    sorts={
        "contacts": Sort(("contacts", "name"), (int, str), descending=True),
        "score": Sort(("avg_score", "name"), (float, str), descending=True),
        "name": Sort(("name_key", "name"), (str, str), descending=False),
    },
    default_sort="contacts",
)

MENTIONS = Listing(
    name="mentions",
    item=Mention,
    source="mentions",
    # published_key: published_at, or the import time of an undated item (never NULL).
    sorts={"newest": Sort(("published_key", "id"), (dt.datetime, int), descending=True)},
    filters={
        # Containment, answered by the GIN index on (tenant_id, companies).
        "company": Filter(
            "r.companies @> ARRAY[CAST(:company AS text)]",
            Annotated[str | None, Parameter(min_length=1, max_length=500, pattern=NO_NUL)],
        ),
        "since": Filter(
            "r.published_key >= :since",
            Annotated[str | None, time_parameter("Published at or after this time.")],
            convert=lambda since: parse_time("since", since),
        ),
    },
)
