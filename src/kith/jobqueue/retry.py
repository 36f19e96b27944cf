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
import random
from typing import Any

from taskiq.kicker import AsyncKicker
from taskiq.message import TaskiqMessage
from taskiq.middlewares import SmartRetryMiddleware
from taskiq.result import TaskiqResult

from kith.transient import is_transient


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
    return random.random()
