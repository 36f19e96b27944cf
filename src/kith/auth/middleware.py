from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, TooManyRequestsException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.rate_limit import get_remote_address
from litestar.status_codes import HTTP_403_FORBIDDEN

from kith.auth.known_tokens import KnownToken, known_tokens, token_use
from kith.auth.principal import Principal
from kith.auth.queries import PRINCIPAL_BY_TOKEN_HASH
from kith.auth.scopes import required_scope
from kith.auth.tokens import hash_token
from kith.db.config import app_reader
from kith.limits import auth_failure_budget, hold_to_plan
from kith.observability.requests import response_headers
from kith.problems import problem

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
        if needed not in principal.scopes:
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
        budget, address = auth_failure_budget(app), get_remote_address(connection)  # type: ignore[arg-type]
        if (wait := await budget.retry_after(address)) is not None:
            raise TooManyRequestsException(
                "Too many failed authentications from this address", headers={"Retry-After": str(wait)}
            )
        stamp = known.stamp(token_hash)
        async with app_reader(app).connect() as conn:
            row = (await conn.execute(PRINCIPAL_BY_TOKEN_HASH, {"token_hash": token_hash})).first()
        if row is None:
            await budget.record_failure(address)
            raise NotAuthorizedException("Invalid, expired or revoked bearer token", headers=_CHALLENGE)
        principal = Principal(row.tenant_id, row.user_id, row.time_zone, frozenset(row.scopes), row.id)
        known.remember(token_hash, KnownToken(row.id, principal, row.expires_at), stamp)
        return token_hash, principal, token
