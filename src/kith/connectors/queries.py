"""The SQL of connections. Tokens go in and out sealed (kith.connectors.crypto); no listing selects them."""

from __future__ import annotations

from sqlalchemy import text

# A connection made again for the same account takes the new tokens and becomes active again.
UPSERT_CONNECTION = text(
    """
    INSERT INTO connections (tenant_id, user_id, provider, account, scopes, refresh_token, access_token,
                             access_expires_at, options, next_sync_at)
    VALUES (:tenant_id, :user_id, :provider, :account, :scopes, :refresh_token, :access_token,
            :access_expires_at, CAST(:options AS jsonb), now())
    ON CONFLICT (tenant_id, provider, account) DO UPDATE
    SET user_id = excluded.user_id, scopes = excluded.scopes, refresh_token = excluded.refresh_token,
        access_token = excluded.access_token, access_expires_at = excluded.access_expires_at,
        options = excluded.options, status = 'active', last_error = NULL, next_sync_at = now(),
        updated_at = now()
    RETURNING id
    """
)

# What the API shows of a connection (never its tokens), with the status of its last run.
CONNECTION_ROWS = """(
    SELECT c.id, c.tenant_id, c.provider, c.account, c.scopes, c.status, c.current_run_id, c.last_run_id,
           r.status AS last_run_status, c.last_sync_at, c.next_sync_at, c.last_error, c.created_at,
           ARRAY(SELECT jsonb_array_elements_text(coalesce(c.options -> 'repos', '[]'))) AS repositories
    FROM connections c LEFT JOIN sync_runs r ON r.id = c.last_run_id
)"""

GET_CONNECTION = text(f"SELECT * FROM {CONNECTION_ROWS} c WHERE tenant_id = :tenant_id AND id = :id")

DELETE_CONNECTION = text("DELETE FROM connections WHERE tenant_id = :tenant_id AND id = :id RETURNING id")

# Takes the connection's row lock, so two requests to sync it now never both queue a run; says whether
# the run it last queued is still unfinished.
LOCK_FOR_SYNC = text(
    """
    SELECT c.id, c.status, c.user_id, c.provider, r.status IN ('queued', 'running') AS busy
    FROM connections c LEFT JOIN sync_runs r ON r.id = c.current_run_id
    WHERE c.tenant_id = :tenant_id AND c.id = :id
    FOR UPDATE OF c
    """
)

SET_CURRENT_RUN = text(
    "UPDATE connections SET current_run_id = :run_id, updated_at = now() WHERE tenant_id = :tenant_id AND id = :id"
)

# The scheduler's pick: active connections due, skipping any whose run is still going. A run that
# has made no progress for `stale` seconds (its worker died, and with no job queue nothing delivers
# it again) is handed out again: it resumes from its checkpoint. Each pick pushes next_sync_at on,
# so a second scheduler never picks it too.
CLAIM_DUE = text(
    """
    WITH due AS (
        SELECT c.id, c.tenant_id, c.user_id, c.provider, c.current_run_id,
               r.status IN ('queued', 'running') AS unfinished,
               r.updated_at < clock_timestamp() - make_interval(secs => :stale) AS stale
        FROM connections c LEFT JOIN sync_runs r ON r.id = c.current_run_id
        WHERE c.status = 'active' AND c.next_sync_at <= clock_timestamp()
        ORDER BY c.next_sync_at
        LIMIT :limit
        FOR UPDATE OF c SKIP LOCKED
    )
    UPDATE connections c SET next_sync_at = clock_timestamp() + make_interval(secs => :interval)
    FROM due WHERE c.id = due.id AND (due.unfinished IS NOT TRUE OR due.stale)
    RETURNING c.id, c.tenant_id, c.user_id, c.provider, CASE WHEN due.unfinished THEN c.current_run_id END AS resume_run_id
    """
)

# For the run's worker: the connection, its sealed tokens and where to resume.
CONNECTION_FOR_RUN = """
    SELECT id, tenant_id, provider, account, scopes, status, refresh_token, access_token, access_expires_at,
           options, checkpoint
    FROM connections WHERE tenant_id = $1 AND id = $2
"""

# X replaces the refresh token on every refresh: both are stored, sealed, at once.
SAVE_TOKENS = """
    UPDATE connections SET refresh_token = $2, access_token = $3, access_expires_at = $4, updated_at = now()
    WHERE id = $1
"""

SAVE_ACCESS_TOKEN = """
    UPDATE connections SET access_token = $2, access_expires_at = $3, updated_at = now() WHERE id = $1
"""

# A step's checkpoint ($2: the source's key, $3: its state), in the transaction of its batch.
SAVE_CHECKPOINT = """
    UPDATE connections SET checkpoint = jsonb_set(checkpoint, ARRAY[$2::text], $3::text::jsonb), updated_at = now()
    WHERE id = $1
    RETURNING id
"""

# Messages deleted at the provider ($3: their ids), with their participant rows; their contacts (and
# participants) to be rescored with the run's ($4).
DELETE_MESSAGES = """
    WITH gone AS (
        DELETE FROM messages WHERE tenant_id = $1 AND source = $2 AND external_id = ANY($3::text[])
        RETURNING id, contact_id
    ),
    gone_participants AS (
        DELETE FROM message_participants p USING gone g
        WHERE p.tenant_id = $1 AND p.message_id = g.id
        RETURNING p.contact_id
    ),
    touched AS (
        INSERT INTO sync_run_contacts (tenant_id, sync_run_id, contact_id)
        SELECT DISTINCT $1::bigint, $4::bigint, contact_id
        FROM (SELECT contact_id FROM gone UNION ALL SELECT contact_id FROM gone_participants) x
        WHERE contact_id IS NOT NULL
        ON CONFLICT DO NOTHING
    )
    SELECT count(*) FROM gone
"""

# Events changed or cancelled at the provider ($3: conversations.external_id of each): their interactions
# go (a changed event's current ones land next, in the same transaction).
DELETE_EVENT_MESSAGES = """
    WITH gone AS (
        DELETE FROM messages m USING conversations c
        WHERE c.tenant_id = $1 AND c.source = $2 AND c.external_id = ANY($3::text[])
          AND m.tenant_id = $1 AND m.conversation_id = c.id
        RETURNING m.id, m.contact_id
    ),
    gone_participants AS (
        DELETE FROM message_participants p USING gone g
        WHERE p.tenant_id = $1 AND p.message_id = g.id
        RETURNING p.contact_id
    ),
    touched AS (
        INSERT INTO sync_run_contacts (tenant_id, sync_run_id, contact_id)
        SELECT DISTINCT $1::bigint, $4::bigint, contact_id
        FROM (SELECT contact_id FROM gone UNION ALL SELECT contact_id FROM gone_participants) x
        WHERE contact_id IS NOT NULL
        ON CONFLICT DO NOTHING
    )
    SELECT count(*) FROM gone
"""

# People deleted at the provider: their contacts are soft-deleted (like a delete through the API).
SOFT_DELETE_CONTACTS = """
    WITH gone AS (
        UPDATE contacts SET deleted_at = now(), updated_at = now()
        WHERE tenant_id = $1 AND deleted_at IS NULL
          AND id IN (SELECT contact_id FROM contact_keys
                     WHERE tenant_id = $1 AND kind = $2 AND value = ANY($3::text[]))
        RETURNING id
    )
    SELECT count(*) FROM gone
"""

# The run's end, on its connection: the next sync is due one interval later; a revoked grant stops them.
FINISH_CONNECTION_RUN = """
    UPDATE connections
    SET current_run_id = NULL, last_run_id = $2, last_error = $3,
        last_sync_at = CASE WHEN $3::text IS NULL THEN clock_timestamp() ELSE last_sync_at END,
        status = CASE WHEN $4 THEN 'needs_reauth' ELSE status END,
        next_sync_at = clock_timestamp() + make_interval(secs => $5),
        updated_at = now()
    WHERE id = $1
"""
