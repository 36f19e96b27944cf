"""The tokens this process verified: every request of a known token is authenticated without a query.

An entry leaves on a `token` notification (revoked, re-scoped, re-dated or deleted, or its tenant's time
zone changed; sent by trigger at commit, whoever made the change), on a reset of the channel, at the
token's own expiry, or, least recently used first, beyond `capacity`; never by a TTL guess. Nothing is
kept while the channel is not heard (kith.caching). So a revoked token is refused by every process as
soon as the notification reaches it (the channel's delay: measured in tests/hardening/test_known_tokens.py).

Its last use is recorded off the request's path (`TokenUse`), at most once a minute per token.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncEngine

from kith.auth.principal import Principal
from kith.auth.queries import RECORD_TOKEN_USE
from kith.caching import KeptUntilNotified, Stamp

KNOWN_TOKENS_STATE_KEY = "kith_known_tokens"
TOKEN_USE_STATE_KEY = "kith_token_use"

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class KnownToken:
    token_id: int
    principal: Principal
    expires_at: dt.datetime | None


class KnownTokens:
    def __init__(self, listening: Callable[[], bool], capacity: int = 10_000) -> None:
        self._tokens: KeptUntilNotified[bytes, KnownToken] = KeptUntilNotified("tokens", listening, capacity)

    def stamp(self, token_hash: bytes) -> Stamp:
        """Take before the look-up whose result is then `remember`ed."""
        return self._tokens.stamp(token_hash)

    def known(self, token_hash: bytes) -> KnownToken | None:
        """The token, verified lately and still valid, or None."""
        known = self._tokens.get(token_hash)
        if known is not None and known.expires_at is not None and known.expires_at <= dt.datetime.now(dt.UTC):
            self._tokens.discard(token_hash)
            return None
        return known

    def principal(self, token_hash: bytes) -> Principal | None:
        return known.principal if (known := self.known(token_hash)) is not None else None

    def remember(self, token_hash: bytes, known: KnownToken, stamp: Stamp) -> None:
        self._tokens.keep(token_hash, known, stamp)

    def on_message(self, message: dict[str, Any]) -> None:
        token_id, tenant_id = message.get("token_id"), message.get("tenant_id")
        self._tokens.forget_where(
            lambda _hash, known: known.token_id == token_id or known.principal.tenant_id == tenant_id
        )

    def reset(self) -> None:
        self._tokens.reset()

    def __len__(self) -> int:
        return len(self._tokens)


class TokenUse:
    """Tokens used since the last flush; written in one statement every `every` seconds, off the requests.

    The statement writes a token's `last_used_at` only when it is a minute old or more, so each token
    costs at most one row update a minute whichever processes use it.
    """

    def __init__(self, engine: AsyncEngine, every: float = 30) -> None:
        self._engine = engine
        self._every = every
        self._used: set[int] = set()
        self._task: asyncio.Task | None = None

    def used(self, token_id: int) -> None:
        self._used.add(token_id)

    async def flush(self) -> None:
        used, self._used = self._used, set()
        if not used:
            return
        try:
            async with self._engine.connect() as conn:
                await conn.execute(RECORD_TOKEN_USE, {"ids": sorted(used)})
        except BaseException:
            self._used |= used
            raise

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="kith-token-use")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):  # the database may be gone at shutdown: a last use is not worth a crash
            await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            try:
                await self.flush()
            except Exception:  # the next flush tries again; requests never wait for this
                logger.warning("could not record token use", exc_info=True)


def known_tokens(app: Litestar) -> KnownTokens:
    return app.state[KNOWN_TOKENS_STATE_KEY]


def token_use(app: Litestar) -> TokenUse:
    return app.state[TOKEN_USE_STATE_KEY]
