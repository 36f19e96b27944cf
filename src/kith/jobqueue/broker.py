"""The taskiq brokers: Redis streams when REDIS_URL is set, in-process otherwise.

The jobs are defined once (on `jobs`, a taskiq shared broker) and sent through
the current broker, chosen on first use.

With REDIS_URL each job names its queue (label `queue`: sync or compute, routed
to stream `<KITH_QUEUE_PREFIX>:<queue>`), so any process can send any job; a
worker reads one queue (`kith worker --queue sync|compute`). A message is
acknowledged after its result is saved; a worker that dies leaves it pending,
and another worker takes it over once it has been idle KITH_REDELIVER_AFTER
seconds. A live worker renews its claim while it runs a job, so a long job is
never handed to a second worker. Streams are capped (approximate MAXLEN,
KITH_STREAM_MAXLEN) and results expire (KITH_RESULT_TTL).

Without REDIS_URL the in-process broker runs each job inside the call that
sends it (the API, `kith import`, `kith scheduler`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from taskiq import AckableMessage, AsyncBroker, InMemoryBroker, TaskiqMessage, TaskiqMiddleware
from taskiq.brokers.shared_broker import AsyncSharedBroker
from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker

from kith.config import QUEUES, get_settings
from kith.jobqueue.engine import register_engine_lifecycle
from kith.jobqueue.retry import TransientRetryMiddleware

logger = logging.getLogger(__name__)

# Seconds a worker renews its claim on a running task's message: longer than every job's timeout
# (kith.tasks.jobs), after which the message may be redelivered like a dead worker's.
MAX_HOLD = 3900


def result_prefix() -> str:
    """Job results are kept under `<KITH_QUEUE_PREFIX>:result:<task id>`."""
    return f"{get_settings().jobs.queue_prefix}:result"


def stream(queue: str) -> str:
    """The Redis stream of a queue: `<KITH_QUEUE_PREFIX>:<queue>` (default prefix `kith`)."""
    return f"{get_settings().jobs.queue_prefix}:{queue}"


class KithStreamBroker(RedisStreamBroker):
    """RedisStreamBroker, with three changes to its listener.

    * A message is fetched only when the worker has a free slot to run it
      (XREADGROUP COUNT 1), so no message waits, claimed, behind running ones.
    * Messages left by a dead consumer are claimed (XAUTOCLAIM) on every round,
      not only after new messages arrived, and one whose delivery count shows it
      keeps killing workers is dropped with an error.
    * While a message runs, the worker renews its claim (XCLAIM JUSTID), so
      the redelivery delay can be short and still never hand a running task to
      another worker.
    """

    def __init__(self, url: str, *, max_hold: float, max_deliveries: int, **kwargs: Any) -> None:
        super().__init__(url, xread_count=1, **kwargs)
        self.url = url
        self.max_hold = max_hold
        self.max_deliveries = max_deliveries
        self._claims: set[asyncio.Task[None]] = set()

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        async with Redis(connection_pool=self.connection_pool) as redis:
            outage = 0
            while True:
                try:
                    fetched = await redis.xreadgroup(
                        self.consumer_group_name,
                        self.consumer_name,
                        {self.queue_name: ">"},
                        block=self.block,
                        noack=False,
                        count=self.count,
                    )
                    claimed = await self._claim_abandoned(redis)
                except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                    # Redis away: the worker waits for it rather than dying (its jobs are in Redis anyway).
                    if not outage:
                        logger.warning("job queue unreachable (%s); waiting for it", exc)
                    outage += 1
                    await asyncio.sleep(min(0.2 * outage, 2.0))
                    continue
                except ResponseError as exc:
                    if "NOGROUP" not in str(exc):
                        raise
                    # Redis came back empty (restarted without persistence): the stream and group anew.
                    logger.warning("job queue has no consumer group %s (Redis restarted?); creating it", exc)
                    await self._declare_consumer_group()
                    continue
                if outage:
                    logger.warning("job queue reachable again")
                    outage = 0
                for stream, entries in fetched or []:
                    for msg_id, fields in entries:
                        yield self._ackable(_str(stream), msg_id, fields)
                if claimed is not None:
                    yield claimed

    async def _claim_abandoned(self, redis: Redis) -> AckableMessage | None:
        stream = self.queue_name
        _next, entries, *_ = await redis.xautoclaim(
            stream,
            self.consumer_group_name,
            self.consumer_name,
            min_idle_time=self.idle_timeout,
            start_id="0-0",
            count=1,
        )
        for msg_id, fields in entries:
            if not fields:  # trimmed away meanwhile
                await redis.xack(stream, self.consumer_group_name, msg_id)
                continue
            pending = await redis.xpending_range(stream, self.consumer_group_name, min=msg_id, max=msg_id, count=1)
            deliveries = pending[0]["times_delivered"] if pending else 1
            if deliveries > self.max_deliveries:
                logger.error(
                    "dropping message %s of %s: delivered %d times, its workers never finished it",
                    _str(msg_id),
                    stream,
                    deliveries,
                )
                await redis.xack(stream, self.consumer_group_name, msg_id)
                continue
            logger.warning(
                "took over message %s of %s from a dead worker (delivery %d)", _str(msg_id), stream, deliveries
            )
            return self._ackable(stream, msg_id, fields)
        return None

    def _ackable(self, stream: str, msg_id: Any, fields: dict[bytes, bytes]) -> AckableMessage:
        claim = asyncio.get_running_loop().create_task(self._keep_claimed(stream, msg_id))
        self._claims.add(claim)
        claim.add_done_callback(self._claims.discard)

        async def ack() -> None:
            claim.cancel()
            async with Redis(connection_pool=self.connection_pool) as redis:
                await redis.xack(stream, self.consumer_group_name, msg_id)

        return AckableMessage(data=fields[b"data"], ack=ack)

    async def _keep_claimed(self, stream: str, msg_id: Any) -> None:
        loop = asyncio.get_running_loop()
        interval = max(self.idle_timeout / 1000 / 3, 0.2)
        deadline = loop.time() + self.max_hold
        while loop.time() < deadline:
            await asyncio.sleep(interval)
            try:
                async with Redis(connection_pool=self.connection_pool) as redis:
                    kept = await redis.xclaim(
                        stream,
                        self.consumer_group_name,
                        self.consumer_name,
                        min_idle_time=0,
                        message_ids=[msg_id],
                        justid=True,
                    )
            except Exception as exc:  # Redis unreachable for a moment: try again next round
                logger.warning("could not renew the claim on %s: %s", _str(msg_id), exc)
                continue
            if not kept:  # acknowledged (or trimmed): nothing left to hold
                return

    async def shutdown(self) -> None:
        for claim in list(self._claims):
            claim.cancel()
        await super().shutdown()


def _str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def make_broker(*, redis_url: str | bool | None = True) -> AsyncBroker:
    """A broker per the settings: Redis streams with REDIS_URL, in-process without.

    `redis_url`: True (default) takes REDIS_URL; None forces the in-process broker; a URL forces Redis.
    """
    settings = get_settings().jobs
    url = settings.redis_url if redis_url is True else redis_url
    broker: AsyncBroker
    if url:
        broker = KithStreamBroker(
            url,
            queue_name=stream("compute"),
            consumer_group_name="kith",
            # A group created after messages were sent must still see them.
            consumer_id="0",
            maxlen=settings.stream_maxlen,
            approximate=True,
            idle_timeout=settings.redeliver_after * 1000,
            max_hold=float(MAX_HOLD),
            max_deliveries=settings.max_deliveries,
        ).with_result_backend(
            RedisAsyncResultBackend(url, result_ex_time=settings.result_ttl, prefix_str=result_prefix())
        )
    else:
        # Each job runs inside the call that sends it (the API sends from a background task, after
        # its response): the chain is done when the send returns, nothing is left running on exit.
        broker = InMemoryBroker(await_inplace=True)
    broker.add_middlewares(
        QueueRouting(),
        TransientRetryMiddleware(
            max_retries=settings.max_retries, delay=settings.retry_delay, max_delay=settings.retry_max_delay
        ),
    )
    register_engine_lifecycle(broker)
    return broker


class QueueRouting(TaskiqMiddleware):
    """A job's `queue` label (sync or compute) names the stream it goes to, under the current prefix."""

    def pre_send(self, message: TaskiqMessage) -> TaskiqMessage:
        queue = message.labels.get("queue")
        if queue in QUEUES:
            message.labels["queue_name"] = stream(queue)
        return message


class Jobs(AsyncSharedBroker):
    """Where the jobs are defined. Sending one goes through the current broker, chosen on first use."""

    @property
    def _default_broker(self) -> AsyncBroker:
        return current_broker()

    @_default_broker.setter
    def _default_broker(self, value: AsyncBroker | None) -> None:
        if value is not None:
            use_broker(value)


_current: AsyncBroker | None = None


def current_broker() -> AsyncBroker:
    if _current is None:
        use_broker(make_broker())
    assert _current is not None
    return _current


def use_broker(broker: AsyncBroker) -> AsyncBroker:
    """Make `broker` the one jobs are sent through (and run by); returns the previous one."""
    global _current
    previous, _current = _current, broker
    return previous  # type: ignore[return-value]


def in_process() -> bool:
    return isinstance(current_broker(), InMemoryBroker)


async def queue_status(timeout: float = 2.0) -> str | None:
    """ "ok" or why not, for the Redis the jobs are sent to; None when jobs run in-process (no queue to reach)."""
    broker = current_broker()
    if not isinstance(broker, KithStreamBroker):
        return None
    try:
        async with Redis.from_url(broker.url, socket_connect_timeout=timeout, socket_timeout=timeout) as redis:
            await redis.ping()
    except Exception as exc:
        return f"unreachable: {type(exc).__name__}"
    return "ok"


jobs = Jobs()
