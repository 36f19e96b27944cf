"""SQL of the read-model refresh."""

from __future__ import annotations

from sqlalchemy import TextClause, text

from kith.readmodels.models import Slice

# An upsert, so a view whose row a migration forgot still gets one (status 'never').
MARK_REQUESTED = text(
    """
    INSERT INTO view_refreshes (view_name, requested_at) VALUES (:view_name, clock_timestamp())
    ON CONFLICT (view_name) DO UPDATE SET requested_at = excluded.requested_at
    """
)

# A slice of its own has its record from when it is built: a request for one dropped since (its tenant deleted)
# records nothing, so nothing refreshes it.
MARK_OWN_REQUESTED = text("UPDATE view_refreshes SET requested_at = clock_timestamp() WHERE view_name = :view_name")

REFRESH_STATE = text("SELECT requested_at, started_at FROM view_refreshes WHERE view_name = :view_name")

# Read without the lock, after releasing it: is a request newer than the last pass's start?
PENDING = text(
    """
    SELECT requested_at IS NOT NULL AND (started_at IS NULL OR requested_at > started_at)
    FROM view_refreshes WHERE view_name = :view_name
    """
)

IS_POPULATED = text("SELECT relispopulated FROM pg_class WHERE oid = to_regclass(:view_name)")

# The view will hold every write committed before its snapshot. A write still
# open at that moment started no earlier than the oldest open transaction, and
# marks its rows changed at its own start, so `as_of` is the older of the two:
# every write the view misses has changed_at >= as_of and is read live.
SNAPSHOT_AS_OF = text(
    """
    SELECT least(now(), (SELECT min(xact_start) FROM pg_stat_activity
                         WHERE datname = current_database() AND pid <> pg_backend_pid()
                           AND xact_start IS NOT NULL))
    """
)

# A new generation from the one sequence (see kith.readmodels.models): it only ever grows.
RECORD_SUCCESS = text(
    """
    UPDATE view_refreshes
    SET status = 'succeeded', started_at = :started_at, finished_at = clock_timestamp(),
        duration_ms = (extract(epoch FROM clock_timestamp() - :started_at) * 1000)::int,
        as_of = :as_of, generation = nextval('read_model_generations'), error = NULL
    WHERE view_name = :view_name
    RETURNING finished_at
    """
)

# `as_of` is left alone: the previous contents are still served. The guard keeps a late
# record (written after the lock was lost) from overwriting a newer pass.
RECORD_FAILURE = text(
    """
    UPDATE view_refreshes
    SET status = 'failed', started_at = :started_at, finished_at = clock_timestamp(),
        duration_ms = (extract(epoch FROM clock_timestamp() - :started_at) * 1000)::int, error = :error
    WHERE view_name = :view_name AND (finished_at IS NULL OR finished_at <= :started_at)
    """
)

# Sync runs whose chain waits for this view (stages.refresh.views.<view>.status = 'waiting',
# recorded before the refresh was requested): a pass that started after the run's request
# holds the run's data. The run's refresh stage succeeds once all its views have.
MARK_RUNS_REFRESHED = text(
    """
    WITH marked AS (
        SELECT id,
               jsonb_set(stages, ARRAY['refresh', 'views', CAST(:view_name AS text)],
                         (stages #> ARRAY['refresh', 'views', CAST(:view_name AS text)])
                         || jsonb_build_object('status', 'succeeded',
                                               'started_at', CAST(:started_at AS timestamptz),
                                               'as_of', CAST(:as_of AS timestamptz),
                                               'finished_at', CAST(:finished_at AS timestamptz))) AS stages
        FROM sync_runs
        -- A run waits for the refresh of any of its views until all are done: ix_sync_runs_awaiting_refresh.
        WHERE stages #>> '{refresh,status}' = 'waiting'
          AND stages #>> ARRAY['refresh', 'views', CAST(:view_name AS text), 'status'] = 'waiting'
          AND (stages #>> '{refresh,requested_at}')::timestamptz <= :started_at
        FOR UPDATE
    )
    UPDATE sync_runs r
    SET stages = CASE
            WHEN EXISTS (SELECT FROM jsonb_each(m.stages #> '{refresh,views}') v
                         WHERE v.value ->> 'status' <> 'succeeded') THEN m.stages
            ELSE jsonb_set(m.stages, '{refresh}', (m.stages -> 'refresh') || jsonb_build_object(
                'status', 'succeeded',
                'finished_at', CAST(:finished_at AS timestamptz),
                'duration_ms', (extract(epoch FROM CAST(:finished_at AS timestamptz)
                                - (m.stages #>> '{refresh,requested_at}')::timestamptz) * 1000)::int))
        END,
        updated_at = clock_timestamp()
    FROM marked m
    WHERE r.id = m.id
    """
)


def refresh_statement(view_name: str, concurrently: bool = True):
    # view_name is a slice's relation (kith.readmodels.models), never a request's text.
    return text(f"REFRESH MATERIALIZED VIEW {'CONCURRENTLY ' if concurrently else ''}{view_name}")


def vacuum_statement(view_name: str):
    return text(f"VACUUM (ANALYZE) {view_name}")


def clear_marks(target: Slice) -> TextClause:
    """Clear the change marks a refresh of the slice has taken in (in its transaction, with its as_of):
    its tenants' only, so another slice's tenants keep the marks their live reads still need."""
    return text(
        f"UPDATE {target.model.changed} SET changed_at = NULL"
        f" WHERE changed_at IS NOT NULL AND changed_at < :as_of AND {target.routed()}"
    )


# The read models in which a tenant has a slice of its own.
OWN_SLICES_OF_TENANT = text("SELECT read_model FROM read_model_routes WHERE tenant_id = :tenant_id")

# Every slice of its own of a read model (its shared ones are declared).
OWN_SLICES = text("SELECT tenant_id FROM read_model_routes WHERE read_model = :read_model ORDER BY tenant_id")

IS_ROUTED = text(
    "SELECT EXISTS (SELECT 1 FROM read_model_routes WHERE tenant_id = :tenant_id AND read_model = :read_model)"
)

ROUTE = text(
    """
    INSERT INTO read_model_routes (tenant_id, read_model, relation) VALUES (:tenant_id, :read_model, :relation)
    ON CONFLICT (tenant_id, read_model) DO NOTHING
    """
)

# A slice just built WITH DATA: that is its first refresh.
RECORD_BUILT = text(
    """
    INSERT INTO view_refreshes (view_name, status, started_at, finished_at, duration_ms, as_of, generation)
    VALUES (:view_name, 'succeeded', :started_at, clock_timestamp(),
            (extract(epoch FROM clock_timestamp() - :started_at) * 1000)::int, :as_of, nextval('read_model_generations'))
    ON CONFLICT (view_name) DO UPDATE SET
        status = excluded.status, started_at = excluded.started_at, finished_at = excluded.finished_at,
        duration_ms = excluded.duration_ms, as_of = excluded.as_of, generation = excluded.generation, error = NULL
    """
)

# Live contacts, counted up to :limit + 1 (a large tenant's count stops there).
CONTACTS_OVER = text(
    """
    SELECT count(*) > :limit FROM (
        SELECT 1 FROM contacts WHERE tenant_id = :tenant_id AND deleted_at IS NULL LIMIT :limit + 1
    ) counted
    """
)
