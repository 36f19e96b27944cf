"""The contact listings' SQL: one statement per page, on the contact_cards view.

Each page reads the materialized view for rows unchanged since its refresh
(`as_of`), and `contact_card_rows` (the same definition, live) for the few
contacts an API write changed since, found through (tenant_id, changed_at).
Both branches seek on an index with the same keyset and are merged under it,
so a write is visible in the very next read (DESIGN: fresh reads over views).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import TextClause, text

from kith.pagination.cursor import Direction
from kith.pagination.keyset import Sort

# The API's Contact fields, in its order, so a row builds one positionally (kith.contacts.schemas.Contact).
CONTACT_FIELDS = (
    "r.id, r.full_name, r.emails, r.phones, r.company, r.title, r.tags, r.birthday, r.cadence_days, r.links, r.notes, "
    "r.score, r.last_interaction_at, r.messages_30d, r.messages_90d, r.follow_up_due_at, "
    "coalesce(r.follow_up_due_key < now(), false) AS overdue, r.created_at, r.updated_at"
)

SORTS: dict[str, Sort] = {
    "score": Sort("score", ("score", "id"), (float, int), descending=True),
    "name": Sort("name", ("name_key", "id"), (str, int), descending=False),
    # Never-contacted rows hold '-infinity' here, so they come last.
    "last_interaction": Sort("last_interaction", ("last_interaction_key", "id"), (dt.datetime, int), descending=True),
    "created": Sort("created", ("created_at", "id"), (dt.datetime, int), descending=True),
}
BIRTHDAY_SORT = Sort("birthday", ("birthday_mmdd", "id"), (int, int), descending=False)
# A cadence never met is due since '-infinity': the most overdue.
OVERDUE_SORT = Sort("overdue", ("follow_up_due_key", "id"), (dt.datetime, int), descending=False)

# Filters: SQL over the row alias `r.`, with their bound parameter names.
FILTER_SQL = {
    "tag": "r.tags @> ARRAY[CAST(:tag AS text)]",
    "company": "r.company = :company",
    # Case-insensitive prefix of the name or of any email, as index ranges in C collation.
    "q": (
        '((r.name_key >= lower(:q) COLLATE "C" AND r.name_key < (lower(:q) || chr(1114111)) COLLATE "C")'
        " OR r.id IN (SELECT k.contact_id FROM contact_keys k WHERE k.tenant_id = :tenant_id AND k.kind = 'email'"
        " AND k.value >= lower(:q) AND k.value < lower(:q) || chr(1114111)))"
    ),
    "min_score": "r.score >= :min_score",
}


@dataclass(frozen=True, slots=True)
class Segment:
    """A part of a listing with its own condition, read in order before the next one.

    Most listings have one. Upcoming birthdays have two when the window wraps
    the year end: this year's remaining days, then next year's first ones.
    """

    condition: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ListingQuery:
    statement: TextClause
    params: dict[str, Any]


def listing_query(
    *,
    tenant_id: int,
    sort: Sort,
    direction: Direction,
    cursor_key: Sequence[Any] | None,
    filters: dict[str, Any],
    limit: int,
    segments: Sequence[Segment] = (Segment("true"),),
    segmented: bool = False,
) -> ListingQuery:
    """One statement: up to `limit + 1` rows in reading order, each `as_of, segment, birthday parts, sort key…,
    contact fields…` (one row of NULLs but as_of when the page is empty).

    A `segmented` listing's cursor key starts with the segment number; segments
    before the cursor's are skipped, later ones are read from their start.
    """
    params: dict[str, Any] = {"tenant_id": tenant_id, "fetch": limit + 1}
    conditions = []
    for name, value in filters.items():
        if value is not None:
            conditions.append(FILTER_SQL[name])
            params[name] = value
    reading_backwards = direction == "prev"
    key = list(cursor_key) if cursor_key is not None else None
    cursor_segment = key.pop(0) if key is not None and segmented else 0
    key_params = [f"k{i}" for i in range(len(sort.columns))]
    if key is not None:
        params.update(zip(key_params, key, strict=True))

    branches = []
    order = sort.order_by(direction)
    for number, segment in enumerate(segments):
        skipped = (number < cursor_segment and not reading_backwards) or (number > cursor_segment and reading_backwards)
        if key is not None and segmented and skipped:
            continue
        seek = key is not None and (not segmented or number == cursor_segment)
        params.update(segment.params)
        where = " AND ".join(
            [*conditions, segment.condition, *([sort.seek(direction, "r.", key_params)] if seek else [])]
        )
        for source, membership in (
            ("contact_cards", "r.id <> ALL (CAST((SELECT ids FROM changed) AS bigint[]))"),
            ("contact_card_rows", "r.id = ANY (CAST((SELECT ids FROM changed) AS bigint[]))"),
        ):
            branches.append(
                f"(SELECT {number} AS segment, r.* FROM {source} r"
                f" WHERE r.tenant_id = :tenant_id AND {membership} AND {where}"
                f" ORDER BY {sort.order_by(direction, 'r.')} LIMIT :fetch)"
            )
    segment_order = ("segment DESC, " if reading_backwards else "segment, ") if segmented else ""
    if not branches:  # the cursor is past every segment
        branches.append("(SELECT 0 AS segment, r.* FROM contact_cards r WHERE false)")
    statement = f"""
        WITH meta AS MATERIALIZED (
            SELECT as_of FROM view_refreshes WHERE view_name = 'contact_cards'
        ),
        changed AS MATERIALIZED (
            SELECT coalesce(array_agg(c.id), '{{}}') AS ids FROM contacts c
            WHERE c.tenant_id = :tenant_id AND c.changed_at >= (SELECT as_of FROM meta)
        )
        SELECT meta.as_of, r.segment, r.birthday_month, r.birthday_day, {", ".join(f"r.{c}" for c in sort.columns)},
               {CONTACT_FIELDS}
        FROM meta LEFT JOIN LATERAL (
            SELECT * FROM ({" UNION ALL ".join(branches)}) merged
            ORDER BY {segment_order}{order} LIMIT :fetch
        ) r ON true
        ORDER BY {segment_order}{order}
    """
    return ListingQuery(text(statement), params)


# One contact, live from the base tables (fresh after any write).
CONTACT_CARD = text(f"SELECT {CONTACT_FIELDS} FROM contact_card_rows r WHERE r.tenant_id = :tenant_id AND r.id = :id")

# Keep a contact's email keys equal to its emails, in one statement; returns the
# emails that already belong to another contact of the tenant (a conflict).
SYNC_EMAIL_KEYS = text(
    """
    WITH wanted AS (
        SELECT DISTINCT lower(e) COLLATE "C" AS value FROM unnest(CAST(:emails AS text[])) e
    ),
    removed AS (
        DELETE FROM contact_keys
        WHERE tenant_id = :tenant_id AND contact_id = :contact_id AND kind = 'email'
          AND value NOT IN (SELECT value FROM wanted)
    ),
    inserted AS (
        INSERT INTO contact_keys (tenant_id, contact_id, kind, value)
        SELECT :tenant_id, :contact_id, 'email', value FROM wanted
        ON CONFLICT (tenant_id, kind, value) DO NOTHING
    )
    SELECT w.value FROM wanted w
    JOIN contact_keys k ON k.tenant_id = :tenant_id AND k.kind = 'email' AND k.value = w.value
    WHERE k.contact_id <> :contact_id
    """
)

# A soft delete frees the contact's keys for other contacts.
DELETE_KEYS = text("DELETE FROM contact_keys WHERE tenant_id = :tenant_id AND contact_id = :contact_id")
