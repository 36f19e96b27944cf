"""Reads on PostgreSQL streaming replicas (KITH_READ_REPLICA_URLS), with read-your-writes.

The rule. A write's response carries `X-Consistency-Token`: the primary's WAL flush position
after the commit (a request commits synchronously, so its commit is at or before it), and the
process remembers it as its tenant's last write. A read requires the greater of the token its
client echoes and its process's last write for the tenant. A replica serves it only if that
replica has replayed the required position (`pg_last_wal_replay_lsn() >= required`), checked
for that replica at that read: its last known position (positions only move forward, so one
seen is proof), else asked again until KITH_REPLICA_WAIT runs out, then the read goes to the
primary. One replica caught up says nothing about another, and no time since a write counts.

The rotation. Every KITH_REPLICA_CHECK_INTERVAL each process asks the primary its flush position
and each replica its replayed one. A replica's lag is how long ago the primary first had WAL the
replica has not replayed (to within a check interval): 0 when it has everything, so an idle
replica is not lagging. Past KITH_REPLICA_MAX_LAG, or unreachable, or no longer a standby, it
leaves the rotation; it comes back at the first check that finds it within the limit. A replica
that fails a read (killed, restarting, a recovery conflict) is taken out at once and the read is
run again on the primary: a single statement, so running it twice is harmless.

Writes, the token's first verification and anything else outside `db_reader` use the primary.
advanced-alchemy's routing sticks to the primary for the rest of a session after a write, which
is the time-and-context guess this avoids, and Kith's reads are not sessions.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
from litestar import Litestar, Request
from litestar.exceptions import ValidationException
from prometheus_client import Counter, Gauge
from sqlalchemy import Executable, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from kith.config import DatabaseSettings, get_settings
from kith.db.budget import api_pools, pool_timeout
from kith.db.reads import READER_STATE_KEY, create_reader

logger = logging.getLogger(__name__)

REPLICAS_STATE_KEY = "kith_read_replicas"
TOKEN_HEADER = "X-Consistency-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# WAL positions as PostgreSQL writes them (`0/16B3748`): what a client echoes, checked before use.
TOKEN_PATTERN = re.compile("[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}")

PRIMARY_POSITION = text("SELECT (pg_current_wal_flush_lsn() - '0/0'::pg_lsn)::bigint")
REPLAYED_POSITION = text("SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint")  # NULL: not a standby
ASK_TIMEOUT = 2.0  # seconds a replica has to say its position before it counts as unreachable
WAIT_STEP = 0.002  # seconds between asks while a read waits for a replay

LAG_SECONDS = Gauge(
    "kith_replica_lag_seconds",
    "How long ago the primary first had WAL the replica has not replayed (0: caught up).",
    ["replica"],
    multiprocess_mode="livemax",
)
LAG_BYTES = Gauge(
    "kith_replica_lag_bytes", "WAL bytes the replica has still to replay.", ["replica"], multiprocess_mode="livemax"
)
IN_ROTATION = Gauge(
    "kith_replica_in_rotation", "1 while the replica serves reads.", ["replica"], multiprocess_mode="livemin"
)
READS = Counter(
    "kith_replica_reads_total",
    "Routed reads by the server that ran them and why (replica: in rotation and caught up; primary: "
    "none in rotation, none caught up within the wait, a replica failed, or a share of the reads).",
    ["server", "reason"],
)


def parse_position(token: str) -> int:
    high, low = token.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def format_position(position: int) -> str:
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


class ReplicaState(msgspec.Struct):
    """A replica as /ready reports it (this process's last check)."""

    name: str
    status: str  # "in rotation", "lagging", "unreachable" or "not a standby"
    lag_seconds: float | None
    lag_bytes: int | None
    replayed: str | None


class Replica:
    def __init__(self, url: str, engine: AsyncEngine) -> None:
        parsed = make_url(url)
        self.name = f"{parsed.host}:{parsed.port or 5432}/{parsed.database}"
        self.engine = engine
        self.replayed: int | None = None  # the replayed position last seen; None: unknown or not a standby
        self.status = "unreachable"
        self.lag_seconds: float | None = None
        self.lag_bytes: int | None = None
        self._asking: asyncio.Future[int | None] | None = None

    @property
    def in_rotation(self) -> bool:
        return self.status == "in rotation"

    def caught_up(self, required: int) -> bool:
        return self.replayed is not None and self.replayed >= required

    async def ask(self) -> int | None:
        """The replayed position, asked now; concurrent askers share one query."""
        if self._asking is None:
            self._asking = asyncio.ensure_future(self._ask())
            self._asking.add_done_callback(self._asked)
        return await asyncio.shield(self._asking)

    def _asked(self, future: asyncio.Future) -> None:
        if self._asking is future:
            self._asking = None

    async def _ask(self) -> int | None:
        try:
            async with asyncio.timeout(ASK_TIMEOUT), self.engine.connect() as conn:
                self.replayed = await conn.scalar(REPLAYED_POSITION)
        except (DBAPIError, OSError, TimeoutError):
            self.failed()
            return None
        if self.replayed is None:
            self.status = "not a standby"
        return self.replayed

    def failed(self) -> None:
        self.replayed, self.status, self.lag_seconds, self.lag_bytes = None, "unreachable", None, None
        IN_ROTATION.labels(self.name).set(0)

    def state(self) -> ReplicaState:
        replayed = None if self.replayed is None else format_position(self.replayed)
        return ReplicaState(self.name, self.status, self.lag_seconds, self.lag_bytes, replayed)


class ReadReplicas:
    """The replicas of one API process: their rotation, and the tenants' last writes made here."""

    def __init__(self, primary: AsyncEngine, replicas: list[Replica], settings: DatabaseSettings) -> None:
        self.primary = primary
        self.replicas = replicas
        self.settings = settings
        self._turn = 0
        self._written: dict[int, int] = {}  # tenant id → position of its last write through this process
        # (monotonic time, primary flush position) of recent checks, to tell how long a replica has lagged.
        self._primary_positions: collections.deque[tuple[float, int]] = collections.deque()
        self._checking: asyncio.Task | None = None

    # ------------------------------------------------------------------ writes

    def remember_write(self, tenant_id: int, position: int) -> None:
        self._written[tenant_id] = max(position, self._written.get(tenant_id, 0))

    def required(self, tenant_id: int | None, token: int | None) -> int | None:
        written = self._written.get(tenant_id, 0) if tenant_id is not None else 0
        return max(token or 0, written) or None

    # ------------------------------------------------------------------ reads

    async def choose(self, required: int | None) -> tuple[Replica | None, str]:
        """The replica to run a read on (None: the primary), and why."""
        rotation = [replica for replica in self.replicas if replica.in_rotation]
        if not rotation:
            return None, "none in rotation"
        self._turn += 1
        if self.settings.primary_reads and self._turn % (len(rotation) + 1) == 0:
            return None, "share"
        first = self._turn % len(rotation)
        rotation = rotation[first:] + rotation[:first]
        if required is None:
            return rotation[0], "in rotation"
        deadline = time.monotonic() + self.settings.replica_wait
        while True:
            for replica in rotation:
                if replica.caught_up(required) and replica.in_rotation:
                    return replica, "caught up"
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None, "none caught up"
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await asyncio.gather(*(replica.ask() for replica in rotation))
                    if not any(replica.caught_up(required) for replica in rotation):
                        await asyncio.sleep(WAIT_STEP)

    # ------------------------------------------------------------------ the rotation

    async def check(self) -> None:
        """Ask every server its position; set each replica's lag and whether it is in the rotation."""
        try:
            async with asyncio.timeout(ASK_TIMEOUT), self.primary.connect() as conn:
                primary_position = await conn.scalar(PRIMARY_POSITION)
        except (DBAPIError, OSError, TimeoutError):
            primary_position = None  # lag unknown: the rotation stays as it is; replicas may still serve
        now = time.monotonic()
        if primary_position is not None:
            self._primary_positions.append((now, primary_position))
            horizon = now - 2 * max(self.settings.replica_max_lag, self.settings.replica_check_interval)
            while len(self._primary_positions) > 1 and self._primary_positions[0][0] < horizon:
                self._primary_positions.popleft()
        await asyncio.gather(*(replica.ask() for replica in self.replicas))
        for replica in self.replicas:
            if replica.replayed is not None and primary_position is not None:
                self._measure(replica, primary_position, now)
            IN_ROTATION.labels(replica.name).set(int(replica.in_rotation))
        self._forget_replayed_writes()

    def _measure(self, replica: Replica, primary_position: int, now: float) -> None:
        replayed = replica.replayed or 0
        behind_since = next((t for t, position in self._primary_positions if position > replayed), None)
        replica.lag_bytes = max(0, primary_position - replayed)
        replica.lag_seconds = 0.0 if behind_since is None else round(now - behind_since, 3)
        replica.status = "in rotation" if replica.lag_seconds <= self.settings.replica_max_lag else "lagging"
        LAG_SECONDS.labels(replica.name).set(replica.lag_seconds)
        LAG_BYTES.labels(replica.name).set(replica.lag_bytes)

    def _forget_replayed_writes(self) -> None:
        """A write every replica has replayed needs no remembering (one not answering: keep them all)."""
        positions = [replica.replayed for replica in self.replicas]
        if None in positions:
            return
        everywhere = min(positions)  # type: ignore[type-var]
        self._written = {tenant: position for tenant, position in self._written.items() if position > everywhere}

    async def _check_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.replica_check_interval)
            try:
                await self.check()
            except Exception:  # the next check tries again; reads fall back meanwhile
                logger.warning("replica check failed", exc_info=True)

    async def start(self) -> None:
        await self.check()  # the rotation is known before the first request
        self._checking = asyncio.create_task(self._check_forever(), name="kith-replica-check")

    async def stop(self) -> None:
        if self._checking is not None:
            self._checking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checking
        for replica in self.replicas:
            await replica.engine.dispose()

    def states(self) -> list[ReplicaState]:
        return [replica.state() for replica in self.replicas]


class RoutedRead:
    """`db_reader` when replicas are configured: each `connect()` is one read, routed by the rule above."""

    def __init__(self, replicas: ReadReplicas, required: int | None) -> None:
        self._replicas = replicas
        self._required = required

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[Any]:
        replica, reason = await self._replicas.choose(self._required)
        if replica is not None:
            conn = replica.engine.connect()
            try:
                await conn.start()
            except (DBAPIError, OSError, TimeoutError) as exc:  # not there (killed, restarting, full)
                logger.warning("replica %s refused a connection: %s", replica.name, exc)
                replica.failed()
                reason = "replica failed"
            else:
                READS.labels(replica.name, reason).inc()
                try:
                    yield _ReadConnection(conn, lambda: self._on_primary(replica))
                finally:
                    await conn.close()
                return
        READS.labels("primary", reason).inc()
        async with self._replicas.primary.connect() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def _on_primary(self, replica: Replica) -> AsyncIterator[Any]:
        replica.failed()
        READS.labels("primary", "replica failed").inc()
        async with self._replicas.primary.connect() as conn:
            yield conn


class _ReadConnection:
    """A replica's connection; a statement the replica fails (killed, a recovery conflict) runs on the primary."""

    def __init__(self, conn: Any, on_primary: Callable[[], contextlib.AbstractAsyncContextManager[Any]]) -> None:
        self._conn = conn
        self._on_primary = on_primary

    async def execute(self, statement: Executable, params: Any = None) -> Any:
        return await self._run(lambda conn: conn.execute(statement, params))

    async def scalar(self, statement: Executable, params: Any = None) -> Any:
        return await self._run(lambda conn: conn.scalar(statement, params))

    async def _run(self, call: Callable[[Any], Awaitable[Any]]) -> Any:
        try:
            return await call(self._conn)
        except (DBAPIError, OSError) as exc:
            if not _replica_failure(exc):
                raise
            logger.warning("a replica failed a read, run again on the primary: %s", exc)
        async with self._on_primary() as conn:
            return await call(conn)  # results are buffered: they outlive the connection


# A replica's own troubles: it went away, is starting or stopping, or cancelled a read that conflicted
# with WAL it was replaying. Anything else (a bad statement) would fail on the primary too.
_REPLICA_SQLSTATES = {"40001", "57P01", "57P02", "57P03", "08000", "08003", "08006"}


def _replica_failure(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return True
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or getattr(exc.orig, "sqlstate", None) in _REPLICA_SQLSTATES
    return False


# ---------------------------------------------------------------------- the app's wiring


def consistency_token(request: Request) -> int | None:
    """The position the client echoes, if any; a malformed one is a 400."""
    value = request.headers.get(TOKEN_HEADER)
    if value is None:
        return None
    if not TOKEN_PATTERN.fullmatch(value):
        raise ValidationException(
            f"{TOKEN_HEADER} must be a WAL position as a write's response gave it (like 0/16B3748), not {value!r}"
        )
    return parse_position(value)


def provide_db_reader(request: Request) -> AsyncEngine | RoutedRead:
    """What a read runs on: the primary's reader, or (with replicas, for a tenant's read) the routed read."""
    token = consistency_token(request)
    replicas: ReadReplicas | None = request.app.state.get(REPLICAS_STATE_KEY)
    tenant_id = getattr(request.scope.get("user"), "tenant_id", None)
    if replicas is None or request.method not in SAFE_METHODS or tenant_id is None:  # writes, /metrics
        return request.app.state[READER_STATE_KEY]
    return RoutedRead(replicas, replicas.required(tenant_id, token))


def replicas_lifecycle() -> tuple[Callable[[Litestar], Awaitable[None]], Callable[[Litestar], Awaitable[None]]]:
    async def open_replicas(app: Litestar) -> None:
        settings = get_settings().database
        if settings.read_replica_urls:
            # Each replica is its own server: its pool is the size of the primary's reader pool.
            replicas = [
                Replica(url, create_reader(url, api_pools().reader, pool_timeout()))
                for url in settings.read_replica_urls
            ]
            app.state[REPLICAS_STATE_KEY] = ReadReplicas(app.state[READER_STATE_KEY], replicas, settings)
            await app.state[REPLICAS_STATE_KEY].start()

    async def close_replicas(app: Litestar) -> None:
        if (replicas := app.state.get(REPLICAS_STATE_KEY)) is not None:
            await replicas.stop()

    return open_replicas, close_replicas


def replica_states(app: Litestar) -> list[ReplicaState] | None:
    replicas: ReadReplicas | None = app.state.get(REPLICAS_STATE_KEY)
    return None if replicas is None else replicas.states()


def stamping_writes(
    before_send: Callable[[Any, Any], Awaitable[None]],
) -> Callable[[Any, Any], Awaitable[None]]:
    """`before_send` (which commits the request's session), then, on a write's successful response with
    replicas configured: the consistency token in its headers, and the tenant's last write remembered."""

    async def handler(message: Any, scope: Any) -> None:
        await before_send(message, scope)
        if message["type"] != "http.response.start" or scope.get("method") in SAFE_METHODS:
            return
        if not 200 <= message["status"] < 300:
            return
        replicas: ReadReplicas | None = scope["app"].state.get(REPLICAS_STATE_KEY)
        tenant_id = getattr(scope.get("user"), "tenant_id", None)
        if replicas is None or tenant_id is None:
            return
        try:
            async with replicas.primary.connect() as conn:
                position = await conn.scalar(PRIMARY_POSITION)
        except (DBAPIError, OSError) as exc:  # the commit is done: answer it, without a token
            logger.warning("no consistency token for a write: %s", exc)
            return
        replicas.remember_write(tenant_id, position)
        message["headers"] = [
            *message.get("headers", []),
            (TOKEN_HEADER.lower().encode(), format_position(position).encode()),
        ]

    return handler
