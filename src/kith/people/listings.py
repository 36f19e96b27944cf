"""The duplicate-group and audit listings, declared on their base tables (fresh by nature, no as_of)."""

from __future__ import annotations

import datetime as dt

from kith.pagination.listing import Listing, Sort
from kith.people.schemas import AuditEvent, DuplicateGroup

DUPLICATES = Listing(
    name="contacts.duplicates",
    item=DuplicateGroup,
    source="duplicate_groups",
    # ix_duplicate_groups_tenant_confidence (partial: not dismissed). A group with a member merged or
    # deleted since it was found is left out (until the next finder run drops it).
    sorts={"confidence": Sort(("confidence", "id"), (float, int), descending=True)},
    scope="r.dismissed_at IS NULL AND NOT EXISTS (SELECT 1 FROM contacts m WHERE m.id = ANY (r.member_ids)"
    " AND m.deleted_at IS NOT NULL)",
    columns={
        "contact_ids": "r.member_ids",
        "contacts": "(SELECT jsonb_agg(jsonb_build_object('id', m.id, 'full_name', m.full_name) ORDER BY m.id)"
        " FROM contacts m WHERE m.id = ANY (r.member_ids))",
    },
)

AUDIT = Listing(
    name="audit",
    item=AuditEvent,
    source="audit_events",
    sorts={
        "created": Sort(("created_at", "id"), (dt.datetime, int), descending=True)
    },  # ix_audit_events_tenant_created
)
