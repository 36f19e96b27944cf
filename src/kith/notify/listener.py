from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from typing import Any, Protocol

import asyncpg
import msgspec

from kith.db.urls import asyncpg_dsn
from kith.notify.channel import CHANNEL

logger = logging.getLogger(__name__)

RECONNECT_SECONDS = (0.1, 0.5, 1, 2, 5)


class Subscriber(Protocol):
    def on_message(self, message: dict[str, Any]) -> None: ...

    def reset(self) -> None:
        """Drop everything cached: messages may have been missed."""


class NotificationListener:
    """A dedicated connection LISTENing on the channel; reconnects (resetting subscribers) when it drops."""

    def __init__(self, database_url: str, channel: str = CHANNEL) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self._channel = channel
        self._subscribers: dict[str, list[Subscriber]] = defaultdict(list)
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task | None = None
        self._connected = asyncio.Event()
        self._lost = asyncio.Event()
        self.received = 0

    def subscribe(self, kind: str, subscriber: Subscriber) -> None:
        self._subscribers[kind].append(subscriber)

    async def start(self, timeout: float = 5) -> None:
        """Start listening; wait up to `timeout` for the connection (while the database is down,
        the caches that rely on the channel keep nothing and the listener keeps trying)."""
        self._task = asyncio.create_task(self._run(), name="kith-notify-listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                self._conn = await asyncpg.connect(self._dsn)
                self._lost.clear()
                self._conn.add_termination_listener(lambda _conn: self._lost.set())
                await self._conn.add_listener(self._channel, self._deliver)
            except (OSError, asyncpg.PostgresError) as exc:
                delay = RECONNECT_SECONDS[min(attempt, len(RECONNECT_SECONDS) - 1)]
                logger.warning("notification channel unavailable (%s); retrying in %ss", exc, delay)
                attempt += 1
                await asyncio.sleep(delay)
                continue
            attempt = 0
            # Whatever happened while not listening is unknown: everyone starts afresh.
            self._reset_all()
            self._connected.set()
            await self._lost.wait()
            self._connected.clear()
            logger.warning("notification channel lost; reconnecting")

    def _reset_all(self) -> None:
        for subscribers in self._subscribers.values():
            for subscriber in subscribers:
                subscriber.reset()

    def _deliver(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self.received += 1
        try:
            message = msgspec.json.decode(payload)
            kind = message["kind"]
        except (msgspec.DecodeError, KeyError, TypeError):
            logger.warning("ignoring a malformed notification: %.200s", payload)
            return
        for subscriber in self._subscribers.get(kind, ()):
            subscriber.on_message(message)
