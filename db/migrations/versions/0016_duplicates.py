"""Duplicate candidates: each contact's normalized identities, the candidate groups, dismissals, merges, the audit.

Revision ID: 0016
Revises: 0015

`contacts.identities` holds `email:…`, `phone:+E164`, `url:…` (profile URLs): what two contacts of the
same person share (kith.identities). Emails of existing contacts are filled in here; their phones and
links (normalized in Python, phones with `phonenumbers`) on their next write. `duplicate_groups` holds the
candidate groups the finder (kith.people) found, strongest first; a dismissed group is kept, so it does not
return. `contact_merges` keeps what a merge changed, to undo it; `audit_events` lists merges, undos and
dismissals. pg_trgm compares names.
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

UPGRADE = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "ALTER TABLE contacts ADD COLUMN identities text[] NOT NULL DEFAULT '{}'",
    """
UPDATE contacts SET identities = ARRAY(SELECT DISTINCT 'email:' || lower(e) FROM unnest(emails) e)
WHERE emails <> '{}'
""",
    """
CREATE TABLE duplicate_groups (
    id bigserial PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    member_ids bigint[] NOT NULL,
    reasons jsonb NOT NULL,
    confidence double precision NOT NULL,
    found_at timestamptz NOT NULL DEFAULT now(),
    dismissed_at timestamptz,
    dismissed_by bigint
)
""",
    "CREATE UNIQUE INDEX uq_duplicate_groups_tenant_members ON duplicate_groups (tenant_id, member_ids)",
    """CREATE INDEX ix_duplicate_groups_tenant_confidence ON duplicate_groups (tenant_id, confidence DESC, id DESC)
       WHERE dismissed_at IS NULL""",
    """
CREATE TABLE contact_merges (
    id uuid PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    survivor_id bigint NOT NULL,
    merged_ids bigint[] NOT NULL,
    snapshot jsonb NOT NULL,
    token_id bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    undone_at timestamptz
)
""",
    "CREATE INDEX ix_contact_merges_tenant_created ON contact_merges (tenant_id, created_at)",
    """
CREATE TABLE audit_events (
    id bigserial PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    action text NOT NULL,
    subject jsonb NOT NULL,
    token_id bigint,
    user_id bigint,
    created_at timestamptz NOT NULL DEFAULT now()
)
""",
    "CREATE INDEX ix_audit_events_tenant_created ON audit_events (tenant_id, created_at DESC, id DESC)",
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE audit_events")
    op.execute("DROP TABLE contact_merges")
    op.execute("DROP TABLE duplicate_groups")
    op.execute("ALTER TABLE contacts DROP COLUMN identities")
