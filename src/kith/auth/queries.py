from __future__ import annotations

from sqlalchemy import text

# One statement per request: the token's hash → its live (not revoked, not expired) user, tenant and
# scopes. It also records when the token was last used, at most once a minute, so a busy token costs
# one row update a minute, not one a request.
PRINCIPAL_BY_TOKEN_HASH = text(
    """
    WITH token AS (
        SELECT t.id, t.tenant_id, t.user_id, t.scopes, t.expires_at, t.last_used_at, n.time_zone
        FROM api_tokens t
        JOIN tenants n ON n.id = t.tenant_id
        WHERE t.token_hash = :token_hash AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
    ), touched AS (
        UPDATE api_tokens a SET last_used_at = now()
        FROM token
        WHERE a.id = token.id AND (token.last_used_at IS NULL OR token.last_used_at < now() - interval '1 minute')
    )
    SELECT id, tenant_id, user_id, scopes, expires_at, time_zone FROM token
    """
)

# A known token's use, recorded later for many tokens at once (kith.auth.known_tokens.TokenUse), with the
# same once-a-minute rule as above.
RECORD_TOKEN_USE = text(
    """
    UPDATE api_tokens SET last_used_at = now()
    WHERE id = ANY (CAST(:ids AS bigint[])) AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
    """
)
