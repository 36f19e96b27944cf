from __future__ import annotations

import asyncio

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, TooManyRequestsException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.rate_limit import get_remote_address
from litestar.status_codes import HTTP_403_FORBIDDEN

from kith.auth.known_tokens import KnownToken, known_tokens, token_use
from kith.auth.principal import Principal
from kith.auth.queries import PRINCIPAL_BY_TOKEN_HASH
from kith.auth.scopes import grants, required_scope
from kith.auth.tokens import hash_token
from kith.db.config import app_reader
from kith.limits import auth_failure_budget, hold_to_plan
from kith.observability.requests import response_headers
from kith.problems import problem
from kith.readmodels.models import learn_routes

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="kith"'}


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    """One pass for what every API request needs of its token: who it is (`request.user`, a Principal;
    anything else is a 401), its rate (the tenant's plan, kith.limits: 429, RateLimit headers) and its
    scope for the route (kith.auth.scopes: 403). These were three passes (a middleware, a rate-limit
    middleware with its own `send` wrapper, a guard that copies its route handler per request).

    A token this process verified (kith.auth.known_tokens) passes without a query or a limits look-up,
    so good clients behind a flooding address pass too. Any other token is looked up, unless its
    address is over its failed-auth budget (a 429 without a query).
    """

    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        token_hash, principal, token = await self._principal(connection)
        scope = connection.scope
        response_headers(scope).update(await hold_to_plan(connection.app, token_hash, principal.tenant_id))
        needed = required_scope(scope["method"], scope["route_handler"])  # type: ignore[typeddict-item]
        if not grants(principal.scopes, needed):
            raise problem(
                HTTP_403_FORBIDDEN, "Forbidden", f"This token does not have the {needed!r} scope", required_scope=needed
            )
        return AuthenticationResult(user=principal, auth=token)

    async def _principal(self, connection: ASGIConnection) -> tuple[bytes, Principal, str]:
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise NotAuthorizedException("Missing bearer token", headers=_CHALLENGE)
        app = connection.app
        token_hash, known = hash_token(token), known_tokens(app)
        if (verified := known.known(token_hash)) is not None:
            token_use(app).used(verified.token_id)
            return token_hash, verified.principal, token
        # One look-up per token at a time in this process: requests carrying a token it is looking up
        # already wait for that answer, taking nothing of the address's budget (a client's first requests
        # in parallel are not a flood of failures; 300 at once got 429s from a process new to the token).
        lookups = _lookups(app)
        while (pending := lookups.get(token_hash)) is not None:
            if (shared := await asyncio.shield(pending)) is not _LOOK_AGAIN:
                if shared is None:
                    raise NotAuthorizedException("Invalid, expired or revoked bearer token", headers=_CHALLENGE)
                return token_hash, shared, token
        lookups[token_hash] = answer = asyncio.get_running_loop().create_future()
        try:
            principal = await self._look_up(connection, token_hash)
            answer.set_result(principal)
        finally:
            del lookups[token_hash]
            if not answer.done():  # the look-up did not answer (refused, failed, cancelled): each tries itself
                answer.set_result(_LOOK_AGAIN)
        if principal is None:  # the look-up was counted as a failure when admitted
            raise NotAuthorizedException("Invalid, expired or revoked bearer token", headers=_CHALLENGE)
        return token_hash, principal, token

    @staticmethod
    async def _look_up(connection: ASGIConnection, token_hash: bytes) -> Principal | None:
        app = connection.app
        known = known_tokens(app)
        budget, address = auth_failure_budget(app), get_remote_address(connection)  # type: ignore[arg-type]
        if (wait := await budget.admit(address)) is not None:
            raise TooManyRequestsException(
                "Too many failed authentications from this address", headers={"Retry-After": str(wait)}
            )
        stamp = known.stamp(token_hash)
        try:
            async with app_reader(app).connect() as conn:
                row = (await conn.execute(PRINCIPAL_BY_TOKEN_HASH, {"token_hash": token_hash})).first()
        except BaseException:  # no answer (the database busy or away) is no failed authentication
            await budget.give_back(address)
            raise
        if row is None:
            return None
        await budget.give_back(address)
        principal = Principal(
            row.tenant_id, row.user_id, row.time_zone, frozenset(row.scopes), row.id, frozenset(row.own_slices)
        )
        learn_routes(principal.tenant_id, principal.own_slices)
        known.remember(token_hash, KnownToken(row.id, principal, row.expires_at), stamp)
        return principal


_LOOK_AGAIN = object()  # a shared look-up that gave no answer
_LOOKUPS_STATE_KEY = "kith_token_lookups"


def _lookups(app) -> dict[bytes, asyncio.Future]:
    """The token look-ups this process has under way (a token's hash → its answer to come)."""
    lookups = app.state.get(_LOOKUPS_STATE_KEY)
    if lookups is None:
        lookups = app.state[_LOOKUPS_STATE_KEY] = {}
    return lookups
