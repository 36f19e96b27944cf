"""The tokens this process verified lately, so that a good token is not refused with the bad ones.

An address over its failed-auth budget is answered 429 without a database query. Behind one address
(a NAT, an office) good clients share that address with the flood; a token this process verified
lately still passes. Entries leave on a `token` notification (revoked, re-scoped, re-dated or deleted,
or its tenant's time zone changed; sent by trigger at commit, whoever made the change), on a reset of
the channel, at the token's own expiry, or, oldest first, beyond `capacity`; never by a TTL guess.
Nothing is kept while the channel is not heard.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from litestar import Litestar

from kith.auth.principal import Principal
from kith.observability.metrics import cache_lookup

KNOWN_TOKENS_STATE_KEY = "kith_known_tokens"


@dataclass(frozen=True, slots=True)
class KnownToken:
    token_id: int
    principal: Principal
    expires_at: dt.datetime | None


class KnownTokens:
    def __init__(self, listening: Callable[[], bool], capacity: int = 10_000) -> None:
        self._listening = listening
        self._capacity = capacity
        self._tokens: OrderedDict[bytes, KnownToken] = OrderedDict()
        self._generation = 0

    @property
    def generation(self) -> int:
        """Read before the look-up whose result is then `remember`ed."""
        return self._generation

    def principal(self, token_hash: bytes) -> Principal | None:
        """The principal of a token verified lately and still valid, or None."""
        known = self._tokens.get(token_hash)
        if known is not None and known.expires_at is not None and known.expires_at <= dt.datetime.now(dt.UTC):
            del self._tokens[token_hash]
            known = None
        cache_lookup("tokens", hit=known is not None)
        return known.principal if known is not None else None

    def remember(self, token_hash: bytes, known: KnownToken, generation: int) -> None:
        # A look-up that overlapped a notification may hold what was true before it: not kept.
        if generation != self._generation or not self._listening():
            return
        self._tokens[token_hash] = known
        self._tokens.move_to_end(token_hash)
        while len(self._tokens) > self._capacity:
            self._tokens.popitem(last=False)

    def on_message(self, message: dict[str, Any]) -> None:
        self._generation += 1
        token_id, tenant_id = message.get("token_id"), message.get("tenant_id")
        for token_hash, known in list(self._tokens.items()):
            if known.token_id == token_id or known.principal.tenant_id == tenant_id:
                del self._tokens[token_hash]

    def reset(self) -> None:
        self._generation += 1
        self._tokens.clear()

    def __len__(self) -> int:
        return len(self._tokens)


def known_tokens(app: Litestar) -> KnownTokens:
    return app.state[KNOWN_TOKENS_STATE_KEY]
