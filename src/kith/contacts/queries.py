"""The contacts' SQL besides their listings (declared in kith.contacts.listings)."""

from __future__ import annotations

from sqlalchemy import text

from kith.contacts.listings import CONTACT_COLUMNS

# One contact, live from the base tables (fresh after any write), with the columns its listings show.
CONTACT_CARD = text(
    "SELECT r.*, "
    + ", ".join(f"{sql} AS {name}" for name, sql in CONTACT_COLUMNS.items())
    + " FROM contact_card_rows r WHERE r.tenant_id = :tenant_id AND r.id = :id"
)

# The same, with where each field's value came from.
CONTACT_CARD_WITH_PROVENANCE = text(
    "SELECT r.*, "
    + ", ".join(f"{sql} AS {name}" for name, sql in CONTACT_COLUMNS.items())
    + ", c.provenance FROM contact_card_rows r JOIN contacts c ON c.tenant_id = r.tenant_id AND c.id = r.id"
    " WHERE r.tenant_id = :tenant_id AND r.id = :id"
)

# Keep a contact's keys equal to its emails and the GitHub / X accounts its links name (kith.identities.profile_keys),
# in one statement; returns the emails that already belong to another contact of the tenant (a conflict). An
# account another contact holds stays with it (the duplicates finder shows the two; a merge joins them).
SYNC_CONTACT_KEYS = text(
    """
    WITH wanted AS (
        SELECT DISTINCT 'email' AS kind, lower(e) COLLATE "C" AS value FROM unnest(CAST(:emails AS text[])) e
        UNION
        SELECT kind, value FROM unnest(CAST(:profile_kinds AS text[]), CAST(:profile_values AS text[])) p(kind, value)
    ),
    removed AS (
        DELETE FROM contact_keys
        WHERE tenant_id = :tenant_id AND contact_id = :contact_id AND kind IN ('email', 'github', 'x')
          AND (kind, value) NOT IN (SELECT kind, value FROM wanted)
    ),
    inserted AS (
        INSERT INTO contact_keys (tenant_id, contact_id, kind, value)
        SELECT :tenant_id, :contact_id, kind, value FROM wanted
        ON CONFLICT (tenant_id, kind, value) DO NOTHING
    )
    SELECT w.value FROM wanted w
    JOIN contact_keys k ON k.tenant_id = :tenant_id AND k.kind = w.kind AND k.value = w.value
    WHERE w.kind = 'email' AND k.contact_id <> :contact_id
    """
)

# A soft delete frees the contact's keys for other contacts.
DELETE_KEYS = text("DELETE FROM contact_keys WHERE tenant_id = :tenant_id AND contact_id = :contact_id")
