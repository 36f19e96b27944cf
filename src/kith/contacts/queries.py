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
