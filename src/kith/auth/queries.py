from __future__ import annotations

from sqlalchemy import text

# One statement per request: the token's hash → its live user and tenant.
PRINCIPAL_BY_TOKEN_HASH = text(
    """
    SELECT t.tenant_id, t.user_id, n.time_zone
    FROM api_tokens t
    JOIN tenants n ON n.id = t.tenant_id
    WHERE t.token_hash = :token_hash AND t.revoked_at IS NULL
    """
)
