"""SQL of the read-model refresh."""

from __future__ import annotations

from sqlalchemy import text

MARK_REQUESTED = text(
    "UPDATE view_refreshes SET requested_at = clock_timestamp() WHERE view_name = :view_name"
)

# Transaction-level: released when the refresh commits or fails, whatever happens to the worker.
TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(hashtextextended('kith.refresh.' || :view_name, 0))")

REFRESH_STATE = text(
    "SELECT requested_at, started_at FROM view_refreshes WHERE view_name = :view_name"
)

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

RECORD_SUCCESS = text(
    """
    UPDATE view_refreshes
    SET status = 'succeeded', started_at = :started_at, finished_at = clock_timestamp(),
        duration_ms = (extract(epoch FROM clock_timestamp() - :started_at) * 1000)::int,
        as_of = :as_of, error = NULL
    WHERE view_name = :view_name
    """
)

RECORD_FAILURE = text(
    """
    UPDATE view_refreshes
    SET status = 'failed', started_at = :started_at, finished_at = clock_timestamp(),
        duration_ms = (extract(epoch FROM clock_timestamp() - :started_at) * 1000)::int, error = :error
    WHERE view_name = :view_name
    """
)


def refresh_statement(view_name: str, concurrently: bool = True):
    # view_name comes from kith.readmodels.views.VIEWS, never from a request.
    return text(f"REFRESH MATERIALIZED VIEW {'CONCURRENTLY ' if concurrently else ''}{view_name}")
