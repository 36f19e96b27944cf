from __future__ import annotations

from sqlalchemy import text

# The tenant's plan, or the default plan when it has none.
PLAN_OF_TENANT = text(
    """
    SELECT p.id, p.name, p.requests_per_minute, p.max_contacts, p.max_upload_bytes,
           p.max_uploads_in_flight, p.max_queued_runs, p.connectors
    FROM tenants t
    JOIN plans p ON p.id = t.plan_id OR (t.plan_id IS NULL AND p.is_default)
    WHERE t.id = :tenant_id
    """
)


# Advisory-lock keys are (tenant key, purpose): the tenant id folded into int4 (a collision only serializes).
def _tenant_key(tenant_id: str) -> str:
    return f"({tenant_id} % 2147483647)::int"


CONTACTS_LOCK_PURPOSE = 1
UPLOAD_SLOT_PURPOSE = 100  # slots are 100, 101, …


# The SQL below is also run by the import's batch writer on asyncpg, with its own placeholders.
def lock_tenant_contacts_sql(tenant_id: str) -> str:
    """Serializes a tenant's contact creations (API and imports), so two at once cannot both take the last place."""
    return f"SELECT pg_advisory_xact_lock({_tenant_key(tenant_id)}, {CONTACTS_LOCK_PURPOSE})"


def contacts_up_to_sql(tenant_id: str, limit: str) -> str:
    """Live contacts, counted no further than the limit."""
    return f"""
    SELECT count(*) FROM (
        SELECT 1 FROM contacts WHERE tenant_id = {tenant_id} AND deleted_at IS NULL LIMIT {limit}
    ) c
    """


LOCK_TENANT_CONTACTS = text(lock_tenant_contacts_sql(":tenant_id"))
CONTACTS_UP_TO = text(contacts_up_to_sql(":tenant_id", ":limit"))

# One statement: the tenant's unfinished runs (partial index), and a free upload slot, held until the
# request's transaction ends (NULL when every slot is taken by uploads streaming in other requests).
UPLOAD_QUOTA = text(
    f"""
    SELECT
        (SELECT count(*) FROM sync_runs
         WHERE tenant_id = :tenant_id AND status IN ('queued', 'running')) AS unfinished_runs,
        (SELECT s FROM generate_series(0, :slots - 1) s
         WHERE pg_try_advisory_xact_lock({_tenant_key(":tenant_id")}, {UPLOAD_SLOT_PURPOSE} + s) LIMIT 1) AS slot
    """
)
