"""`Idempotency-Key` on the POSTs that create things: a retry gets the first response and creates nothing.

A handler takes the `idempotency` dependency and hands it the work that creates:

    async def create_contact(self, ..., idempotency: NamedDependency[Idempotency]) -> Response[Contact]:
        return await idempotency.respond(lambda: service.create_contact(...), HTTP_201_CREATED)

Without the header the work just runs. With it, in the request's own transaction: the key is locked
(a transaction-scoped advisory lock, so a concurrent retry waits for the first request to finish),
then either the stored response is replayed (status, body, Location; header `Idempotent-Replayed:
true`), or the work runs and its response is stored, committed with what it created. A request
that fails stores nothing (its transaction rolls back), so its retry runs afresh. The same key with
another request (method, path, query or body) is a 422. Keys are per tenant and expire after
IDEMPOTENCY_TTL; `kith.cleanup` deletes expired ones.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import msgspec
from litestar import Request, Response
from litestar.di import NamedDependency
from litestar.enums import MediaType
from litestar.params import HeaderParameter
from litestar.status_codes import HTTP_422_UNPROCESSABLE_ENTITY
from litestar.types import Empty, Message, Receive
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from kith.auth.principal import Principal
from kith.config import get_settings
from kith.problems import in_words, problem

IDEMPOTENCY_TTL = dt.timedelta(hours=24)
# The response headers a replay repeats.
REPLAYED_HEADERS = ("location",)
# Namespaces Kith's advisory locks on idempotency keys.
_LOCK_CLASS = 0x1DE

_LOCK = text("SELECT pg_advisory_xact_lock(:lock_class, hashtext(:tenant_key))")
_STORED = text(
    """
    SELECT fingerprint, status_code, headers, body, media_type FROM idempotency_keys
    WHERE tenant_id = :tenant_id AND key = :key AND expires_at > now()
    """
)
_STORE = text(
    """
    INSERT INTO idempotency_keys (tenant_id, key, fingerprint, status_code, headers, body, media_type, expires_at)
    VALUES (:tenant_id, :key, :fingerprint, :status_code, CAST(:headers AS jsonb), :body, :media_type, :expires_at)
    ON CONFLICT (tenant_id, key) DO UPDATE SET
        fingerprint = excluded.fingerprint, status_code = excluded.status_code, headers = excluded.headers,
        body = excluded.body, media_type = excluded.media_type, created_at = now(), expires_at = excluded.expires_at
    """
)

IdempotencyKeyHeader = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=in_words(r"^[\x21-\x7e]+$", "visible ASCII characters, no spaces"),
        description="Any unique string (a UUID): a retry with the same key gets the first response "
        "and creates nothing; the same key with another request is a 422. Kept 24 hours.",
    ),
]


class _BodyDigest:
    """SHA-256 of the request body, taken as the body streams past (so an upload is never held whole)."""

    def __init__(self, request: Request) -> None:
        self._request = request
        self._hash = hashlib.sha256()
        self._complete = False
        receive = request.receive

        async def hashing_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                self._hash.update(message.get("body", b""))
                self._complete = not message.get("more_body", False)
            return message

        self._receive: Receive = hashing_receive  # type: ignore[assignment]
        request.receive = self._receive  # type: ignore[method-assign]

    async def digest(self, limit: int) -> bytes:
        if not self._complete:
            cached = self._request._connection_state.body
            if cached is not Empty:
                return hashlib.sha256(cached).digest()
            received = 0
            async for chunk in self._request.stream():  # the rest of a body the work did not read
                received += len(chunk)
                if received > limit:
                    break  # longer than any request that could have been stored
        return self._hash.digest()


class Idempotency:
    def __init__(self, request: Request, session: AsyncSession, tenant_id: int, key: str | None) -> None:
        self.key = key
        self._request = request
        self._session = session
        self._tenant_id = tenant_id
        self._body = _BodyDigest(request) if key is not None else None

    async def respond(self, work: Callable[[], Awaitable[Any]], status_code: int) -> Response:
        """The response of `work()` (its content, or a Response), stored under the key; or the stored one."""
        if self.key is None or self._body is None:
            return _as_response(await work(), status_code)
        params = {"tenant_id": self._tenant_id, "key": self.key}
        await self._session.execute(_LOCK, {"lock_class": _LOCK_CLASS, "tenant_key": f"{self._tenant_id}:{self.key}"})
        stored = (await self._session.execute(_STORED, params)).first()
        if stored is not None:
            if stored.fingerprint != await self._fingerprint():
                raise problem(
                    HTTP_422_UNPROCESSABLE_ENTITY,
                    "Unprocessable Entity",
                    "This Idempotency-Key was used with another request",
                )
            headers = {**stored.headers, "Idempotent-Replayed": "true"}
            return Response(stored.body, status_code=stored.status_code, headers=headers, media_type=stored.media_type)
        response = _as_response(await work(), status_code)
        response.media_type = response.media_type or MediaType.JSON
        body = response.render(response.content, response.media_type)
        headers = {name: value for name, value in response.headers.items() if name.lower() in REPLAYED_HEADERS}
        await self._session.execute(
            _STORE,
            {
                **params,
                "fingerprint": await self._fingerprint(),
                "status_code": response.status_code,
                "headers": _json(headers),
                "body": body,
                "media_type": response.media_type,
                "expires_at": dt.datetime.now(dt.UTC) + IDEMPOTENCY_TTL,
            },
        )
        response.content = body
        return response

    async def _fingerprint(self) -> bytes:
        assert self._body is not None
        request = self._request
        head = f"{request.method} {request.url.path}?{request.scope.get('query_string', b'').decode('latin-1')}"
        body = await self._body.digest(get_settings().http.max_upload_bytes)
        return hashlib.sha256(head.encode() + b"\0" + body).digest()


def _as_response(result: Any, status_code: int) -> Response:
    if isinstance(result, Response):
        return result
    return Response(result, status_code=status_code, media_type=MediaType.JSON)


def _json(value: dict[str, str]) -> str:
    return msgspec.json.encode(value).decode()


async def provide_idempotency(
    request: Request,
    db_session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
    idempotency_key: IdempotencyKeyHeader = None,
) -> Idempotency:
    return Idempotency(request, db_session, principal.tenant_id, idempotency_key)
