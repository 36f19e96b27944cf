"""How many connections each pool of a process may hold: every pool is sized here, from one setting.

KITH_DB_CONNECTIONS is what one `kith serve` or one `kith worker` may open in all, whatever its number
of processes (KITH_DB_PROCESSES, set by the command) and pools. An API process holds one LISTEN
connection (kith.notify), a writer pool (requests' sessions, in-process jobs, the outbox sweeper) and
the autocommit reader (listings, token look-ups): the reader gets two thirds of the rest. A worker
process holds one pool for its jobs. Pools never overflow, so the sum is a bound, not a guess; the
operator keeps (commands × KITH_DB_CONNECTIONS + 2 per scheduler) under a share of PostgreSQL's
max_connections (README: 80%).
"""

from __future__ import annotations

from typing import NamedTuple

from kith.config import get_settings

LISTENER_CONNECTIONS = 1
# The fewest an API process can serve with: the listener, one reader, one writer.
MIN_API_CONNECTIONS = 3
# Seconds a job waits for a connection of its worker's pool (then it is retried as a transient failure).
JOB_POOL_TIMEOUT = 30.0


class ApiPools(NamedTuple):
    reader: int
    writer: int


def per_process() -> int:
    database = get_settings().database
    return database.connections // max(1, database.processes)


def api_pools() -> ApiPools:
    """The reader's and the writer's sizes in one API process (the listener takes one more)."""
    pooled = max(MIN_API_CONNECTIONS, per_process()) - LISTENER_CONNECTIONS
    writer = max(1, pooled // 3)
    return ApiPools(reader=pooled - writer, writer=writer)


def worker_pool() -> int:
    """The pool of one worker process (or of a command running jobs in-process)."""
    return max(1, per_process())


def pool_timeout() -> float:
    return get_settings().database.pool_timeout
