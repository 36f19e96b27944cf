"""Deterministic synthetic tenants (small / medium / large) for tests, benchmarks and the demo.

All rows are produced by set-based SQL (`kith.seed.queries`): `INSERT … SELECT`
over ranges of `generate_series`, in chunks, with every pseudo-random value
derived from `hashint8extended(index, seed-and-column salt)`. The same `seed`
(and `anchor`) gives the same rows, ids aside.

    counts = await seed_tenant(conn, tenant_id=1, user_id=1, size="large", seed=1)

Atomicity: the whole seed of a tenant runs in ONE transaction (a savepoint if
the caller already has one open), so a failure leaves nothing of it behind. The
large size keeps that too: PostgreSQL has no undo log, so one big transaction
writes no more than many small ones; it only holds the temp index maps (~50 MB
for large) until the end. Large takes about two minutes on 2 cores.

Speed comes from (see `queries`): hash draws computed once per row; messages
generated and inserted in (contact, sent_at) order so every message index is
filled at its right edge; and, where allowed, skipping the foreign-key checks
of rows whose keys are correct by construction (`skip_fk_checks`).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from kith.seed import queries as q


@dataclass(frozen=True)
class SeedSize:
    contacts: int
    messages: int
    conversations: int
    mentions: int
    # Messages of one more conversation, a group chat with a long history (0: no group thread).
    group_messages: int = 0
    # News mentions are published over this many days before the anchor.
    mention_days: int = 60


@dataclass
class SeedCounts:
    contacts: int
    messages: int
    conversations: int
    mentions: int
    seconds: float


SIZES: dict[str, SeedSize] = {
    # A few pages of each listing, seeded in a second: browser tests and quick looks.
    "tiny": SeedSize(contacts=200, messages=2_000, conversations=30, mentions=30),
    "small": SeedSize(contacts=1_000, messages=20_000, conversations=300, mentions=300),
    "medium": SeedSize(
        contacts=100_000, messages=1_000_000, conversations=5_000, mentions=1_000, group_messages=100_000
    ),
    # Two years of news, enough for per-company analytics to matter (bench_aggregates).
    "large": SeedSize(
        contacts=1_000_000,
        messages=10_000_000,
        conversations=50_000,
        mentions=120_000,
        mention_days=730,
        group_messages=1_000_000,
    ),
}

# Rows per INSERT statement.
CONTACT_CHUNK = 250_000
MESSAGE_CHUNK = 1_000_000
# Share of contacts that have any message at all (the rest have none).
ACTIVE_CONTACT_SHARE = 0.6


def default_anchor() -> dt.datetime:
    """The synthetic world's "now": the start of the current UTC day (stable within a day)."""
    today = dt.datetime.now(dt.UTC).date()
    return dt.datetime(today.year, today.month, today.day, tzinfo=dt.UTC)


def _fmt(n: float) -> str:
    return f"{n:,.0f}"


class _Meter:
    def __init__(self, name: str, total: int, progress: Callable[[str], None]) -> None:
        self.name, self.total, self.progress = name, total, progress
        self.done = 0
        self.started = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def add(self, rows: int) -> None:
        self.done += rows
        rate = self.done / self.seconds if self.seconds > 0 else 0.0
        self.progress(f"{self.name}: {_fmt(self.done)}/{_fmt(self.total)} ({_fmt(rate)} rows/s)")


def _ranges(total: int, chunk: int):
    for lo in range(0, total, chunk):
        yield lo, min(lo + chunk, total) - 1


async def _set_local(conn: asyncpg.Connection, settings: dict[str, str]) -> None:
    for name, value in settings.items():
        await conn.execute("SELECT set_config($1, $2, true)", name, value)


def _inserted(status: str) -> int:
    # "INSERT 0 <n>"
    return int(status.rsplit(" ", 1)[-1])


async def seed_tenant(
    conn: asyncpg.Connection,
    *,
    tenant_id: int,
    user_id: int,
    size: str | SeedSize,
    seed: int = 1,
    progress: Callable[[str], None] = print,
    anchor: dt.datetime | None = None,
    analyze: bool = True,
    skip_fk_checks: bool = True,
) -> SeedCounts:
    """Fill one tenant with a synthetic `size` ("tiny", "small", "medium", "large", or a SeedSize) data set.

    `anchor` is the synthetic "now" every timestamp is relative to (default: the start of
    today, UTC): pass the same anchor to reproduce the same timestamps on another day.
    `user_id` (a user of the tenant) owns the conversations. The tenant must not have been
    seeded before (ValueError). With `analyze`, the tables are analyzed after the commit.
    `skip_fk_checks`: skip the (redundant) foreign-key checks of the generated rows when the
    connection may and nothing else would be skipped (see `queries.CAN_SKIP_FK_CHECKS`).
    """
    try:
        spec = size if isinstance(size, SeedSize) else SIZES[size]
    except KeyError:
        raise ValueError(f"unknown size {size!r}; expected one of {', '.join(SIZES)}") from None
    anchor = anchor or default_anchor()
    if anchor.tzinfo is None:
        raise ValueError("anchor must be timezone-aware")
    base = (tenant_id, seed)

    started = time.perf_counter()
    counts = SeedCounts(contacts=0, messages=0, conversations=0, mentions=0, seconds=0.0)

    async with conn.transaction():
        check = await conn.fetchrow(q.CHECK_TENANT, tenant_id, user_id)
        if not check["tenant_ok"]:
            raise ValueError(f"tenant {tenant_id} does not exist")
        if not check["user_ok"]:
            raise ValueError(f"user {user_id} does not exist in tenant {tenant_id}")
        if check["seeded"]:
            raise ValueError(f"tenant {tenant_id} already holds synthetic data")
        settings = dict(q.SESSION_SETTINGS)
        if skip_fk_checks and await conn.fetchval(q.CAN_SKIP_FK_CHECKS, q.SEEDED_TABLES):
            settings["session_replication_role"] = "replica"
        saved = {name: await conn.fetchval("SELECT current_setting($1)", name) for name in settings}
        await _set_local(conn, settings)
        await conn.execute(q.CREATE_TEMP)

        meter = _Meter("contacts", spec.contacts, progress)
        for lo, hi in _ranges(spec.contacts, CONTACT_CHUNK):
            await conn.execute(q.INSERT_CONTACTS, *base, lo, hi, anchor)
            meter.add(hi - lo + 1)
        counts.contacts = meter.done
        map_started = time.perf_counter()
        await conn.execute(q.BUILD_CONTACT_MAP, spec.messages, seed, ACTIVE_CONTACT_SHARE)
        await conn.execute("ANALYZE seed_contact_map")
        progress(
            f"contact map: {_fmt(counts.contacts)} contacts, message ranges ({time.perf_counter() - map_started:.1f} s)"
        )

        meter = _Meter("conversations", spec.conversations, progress)
        await conn.execute(q.INSERT_CONVERSATIONS, *base, 0, spec.conversations - 1, anchor, user_id)
        meter.add(spec.conversations)
        counts.conversations = meter.done
        await conn.execute(q.BUILD_CONV_MAP)

        meter = _Meter("messages", spec.messages, progress)
        for lo, hi in _ranges(spec.messages, MESSAGE_CHUNK):
            status = await conn.execute(q.INSERT_MESSAGES, *base, lo, hi, anchor, spec.contacts, spec.conversations)
            inserted = _inserted(status)
            if inserted != hi - lo + 1:  # a contact or conversation missing from the maps
                raise RuntimeError(f"messages {lo}..{hi}: inserted {inserted} rows, expected {hi - lo + 1}")
            meter.add(inserted)
        counts.messages = meter.done

        if spec.group_messages:
            await _seed_group_thread(conn, spec, base, anchor, user_id, progress)
            counts.conversations += 1
            counts.messages += spec.group_messages

        meter = _Meter("mentions", spec.mentions, progress)
        mention_companies = min(q.N_COMPANIES, max(50, spec.contacts // 5))
        await conn.execute(q.INSERT_MENTIONS, *base, 0, spec.mentions - 1, anchor, mention_companies, spec.mention_days)
        meter.add(spec.mentions)
        counts.mentions = meter.done

        # ON COMMIT DROP and the end of the transaction would do, but not if the transaction is the
        # caller's and goes on (we are then a savepoint in it): leave it as we found it.
        await conn.execute("DROP TABLE seed_contact_ids, seed_conv_ids, seed_contact_map, seed_conv_map")
        await _set_local(conn, saved)

    written = time.perf_counter() - started
    if analyze and not conn.is_in_transaction():
        for table in q.ANALYZE_TABLES:
            await conn.execute(f"ANALYZE {table}")
    counts.seconds = time.perf_counter() - started
    total = counts.contacts * 2 + counts.conversations + counts.messages + counts.mentions  # contact_keys too
    progress(
        f"seeded {size if isinstance(size, str) else 'custom'} (seed {seed}) into tenant {tenant_id}: {_fmt(counts.contacts)} contacts "
        f"(+{_fmt(counts.contacts)} contact_keys), {_fmt(counts.conversations)} conversations, "
        f"{_fmt(counts.messages)} messages, {_fmt(counts.mentions)} mentions in {counts.seconds:.1f} s "
        f"({_fmt(total / written if written else 0)} rows/s written; analyze {counts.seconds - written:.1f} s)"
    )
    return counts


async def _seed_group_thread(
    conn: asyncpg.Connection,
    spec: SeedSize,
    base: tuple[int, int],
    anchor: dt.datetime,
    user_id: int,
    progress: Callable[[str], None],
) -> None:
    """One group chat after the regular conversations, its messages numbered after theirs."""
    tenant_id, _ = base
    conversation_id = await conn.fetchval(q.INSERT_GROUP_CONVERSATION, tenant_id, user_id, spec.conversations, anchor)
    meter = _Meter("group thread", spec.group_messages, progress)
    for lo, hi in _ranges(spec.group_messages, MESSAGE_CHUNK):
        first, last = spec.messages + lo, spec.messages + hi
        status = await conn.execute(q.INSERT_GROUP_MESSAGES, *base, first, last, anchor, conversation_id, spec.contacts)
        inserted = _inserted(status)
        if inserted != hi - lo + 1:
            raise RuntimeError(f"group messages {first}..{last}: inserted {inserted} rows, expected {hi - lo + 1}")
        meter.add(inserted)
