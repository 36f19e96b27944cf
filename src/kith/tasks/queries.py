"""SQL of the jobs (bookkeeping around the services they call)."""

from __future__ import annotations

from sqlalchemy import text

RUN_STATE = text(
    "SELECT tenant_id, status, stages #>> '{score,status}' AS score_status, stages #>> '{refresh,status}' AS refresh_status "
    "FROM sync_runs WHERE id = :id"
)

# Recorded before the refreshes are requested; the refresher completes it
# (kith.readmodels.queries.MARK_RUNS_REFRESHED) once a pass that started after it commits.
AWAIT_REFRESH = text(
    """
    UPDATE sync_runs
    SET stages = stages || jsonb_build_object('refresh', jsonb_build_object(
            'status', 'waiting', 'requested_at', clock_timestamp(),
            'views', (SELECT jsonb_object_agg(v, jsonb_build_object('status', 'waiting'))
                      FROM unnest(CAST(:views AS text[])) v))),
        updated_at = clock_timestamp()
    WHERE id = :id
    """
)

# Idempotency keys past their expiry (see kith.idempotency): a retry after it is a new request anyway.
DELETE_EXPIRED_IDEMPOTENCY_KEYS = text("DELETE FROM idempotency_keys WHERE expires_at < now()")

# Old runs go in small batches (their uploads and touched-contact lists cascade with them).
DELETE_OLD_RUNS = text(
    """
    DELETE FROM sync_runs WHERE id IN (
        SELECT id FROM sync_runs
        WHERE created_at < clock_timestamp() - make_interval(days => :days)
        LIMIT :batch
    )
    """
)
