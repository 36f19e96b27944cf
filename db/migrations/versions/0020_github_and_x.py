"""GitHub and X connections: the default plan includes them, and contacts are found by their accounts.

Revision ID: 0020
Revises: 0019

A contact whose links name a GitHub or X profile (kith.identities.profile_keys) holds that account as a
key (contact_keys kind 'github' or 'x', the lowercased login or handle): what the connectors' interactions
find their contact by. Existing contacts get theirs here (an account two contacts name stays with the older).
"""

from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

# The same rules as kith.identities.profile_keys, frozen as they were when this migration was written.
_BACKFILL = r"""
INSERT INTO contact_keys (tenant_id, contact_id, kind, value)
SELECT tenant_id, id, kind, value FROM (
    SELECT c.tenant_id, c.id, p.kind, p.value
    FROM contacts c
    CROSS JOIN LATERAL unnest(c.links) link
    CROSS JOIN LATERAL (
        SELECT CASE WHEN m[1] LIKE '%github.com' THEN 'github' ELSE 'x' END AS kind, ltrim(m[2], '@') AS value
        FROM regexp_match(
            lower(btrim(link)),
            '^(?:https?://)?((?:www\.)?github\.com|(?:www\.|mobile\.)?(?:x|twitter)\.com)/+([^/?#]+)/*(?:[?#].*)?$'
        ) m
    ) p
    WHERE c.deleted_at IS NULL
      AND ((p.kind = 'github' AND p.value ~ '^[a-z0-9][a-z0-9-]{0,38}$' AND p.value NOT IN (
                'about', 'apps', 'collections', 'contact', 'enterprise', 'explore', 'features', 'issues', 'join',
                'login', 'marketplace', 'new', 'notifications', 'orgs', 'organizations', 'pricing', 'pulls',
                'search', 'security', 'settings', 'site', 'sponsors', 'topics', 'trending'))
        OR (p.kind = 'x' AND p.value ~ '^[a-z0-9_]{1,15}$' AND p.value NOT IN (
                'compose', 'explore', 'hashtag', 'home', 'i', 'intent', 'login', 'messages', 'notifications',
                'privacy', 'search', 'settings', 'share', 'signup', 'tos')))
    ORDER BY c.id
) keys
ON CONFLICT (tenant_id, kind, value) DO NOTHING
"""


def upgrade() -> None:
    op.execute(
        "UPDATE plans SET connectors = connectors || ARRAY['github', 'x']"
        " WHERE is_default AND NOT connectors && ARRAY['github', 'x']"
    )
    op.get_bind().exec_driver_sql(_BACKFILL)  # as written: its regular expressions hold colons


def downgrade() -> None:
    op.execute("DELETE FROM contact_keys WHERE kind IN ('github', 'x')")
    op.execute("UPDATE plans SET connectors = array_remove(array_remove(connectors, 'github'), 'x')")
