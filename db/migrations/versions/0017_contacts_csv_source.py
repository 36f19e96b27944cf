"""The contacts_csv source (Google Contacts and Outlook CSV exports) is in every plan that has vcard.

Revision ID: 0017
Revises: 0016

A plan lists the sources its tenants may import (plans.connectors); an address book in CSV is the same
data as one in vCard, so the plans that allow one allow the other.
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE plans SET connectors = array_append(connectors, 'contacts_csv')"
        " WHERE 'vcard' = ANY (connectors) AND NOT 'contacts_csv' = ANY (connectors)"
    )


def downgrade() -> None:
    op.execute("UPDATE plans SET connectors = array_remove(connectors, 'contacts_csv')")
