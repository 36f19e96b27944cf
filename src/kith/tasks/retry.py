"""Retries with backoff, for transient failures only.

taskiq's SmartRetryMiddleware computes the backoff (exponential, with jitter,
capped) and re-sends the message under the same task id with a `_retries`
label. Two things are adjusted here:

* what is retried: connection loss, serialization failures, deadlocks, lock
  timeouts, a server shutting down or refusing connections, Redis connection
  errors. Validation errors, bugs and task timeouts are not (retrying would
  fail the same way).
* the delay: the Redis stream broker has no delayed delivery (SmartRetry's
  `delay` label is ignored by it), so the middleware waits before re-sending.
  It waits inside the failed delivery, before that delivery is acknowledged,
  so a worker dying meanwhile loses nothing: the failed delivery is redelivered.
"""

from __future__ import annotations

import asyncio
from typing import Any

from taskiq.kicker import AsyncKicker
from taskiq.message import TaskiqMessage
from taskiq.middlewares import SmartRetryMiddleware
from taskiq.result import TaskiqResult

# SQLSTATE classes and codes worth another attempt.
_TRANSIENT_SQLSTATE_CLASSES = ("08",)  # connection exception
_TRANSIENT_SQLSTATES = {
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
    "55P03",  # lock_not_available (lock_timeout)
    "57P01",  # admin_shutdown
    "57P02",  # crash_shutdown
    "57P03",  # cannot_connect_now
    "53300",  # too_many_connections
}


def _sqlstate(exc: BaseException) -> str | None:
    for attr in ("sqlstate", "pgcode"):
        code = getattr(exc, attr, None)
        if isinstance(code, str):
            return code
    return None


def is_transient(exc: BaseException) -> bool:
    """True for failures another attempt may not meet (looks through the exception's causes)."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.exc import TimeoutError as PoolTimeoutError

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, (PoolTimeoutError, RedisConnectionError, RedisTimeoutError, ConnectionError)):
            return True
        code = _sqlstate(current)
        if code and (code in _TRANSIENT_SQLSTATES or code[:2] in _TRANSIENT_SQLSTATE_CLASSES):
            return True
        for attr in ("orig",):
            inner = getattr(current, attr, None)
            if isinstance(inner, BaseException) and id(inner) not in seen and is_transient(inner):
                return True
        current = current.__cause__ or current.__context__
    return False


class TransientRetryMiddleware(SmartRetryMiddleware):
    def __init__(self, *, max_retries: int, delay: float, max_delay: float) -> None:
        super().__init__(
            default_retry_count=max_retries,
            default_retry_label=True,
            default_delay=delay,
            use_jitter=True,
            use_delay_exponent=True,
            max_delay_exponent=max_delay,
        )

    def make_delay(self, message: TaskiqMessage, retries: int) -> float:
        # Exponential (SmartRetry's own is linear in the attempt number), capped, plus jitter.
        base = float(message.labels.get("delay", self.default_delay))
        return min(base * 2 ** (retries - 1), self.max_delay_exponent) + (self.use_jitter and _jitter())

    async def on_error(self, message: TaskiqMessage, result: TaskiqResult[Any], exception: BaseException) -> None:
        if not is_transient(exception):
            return
        await super().on_error(message, result, exception)

    async def on_send(self, kicker: AsyncKicker[Any, Any], message: TaskiqMessage, delay: float) -> None:
        await asyncio.sleep(delay)
        await kicker.kiq(*message.args, **message.kwargs)


def _jitter() -> float:
    import random

    return random.random()
