from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, TooManyRequestsException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.rate_limit import get_remote_address

from kith.auth.principal import Principal
from kith.auth.queries import PRINCIPAL_BY_TOKEN_HASH
from kith.auth.tokens import hash_token
from kith.db.config import app_reader
from kith.limits import auth_failure_budget

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="kith"'}


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    """`Authorization: Bearer <token>` → `request.user` is a Principal; anything else is a 401."""

    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthorizedException("Missing bearer token", headers=_CHALLENGE)
        budget, address = auth_failure_budget(connection.app), get_remote_address(connection)  # type: ignore[arg-type]
        if (wait := await budget.retry_after(address)) is not None:
            raise TooManyRequestsException(
                "Too many failed authentications from this address", headers={"Retry-After": str(wait)}
            )
        async with app_reader(connection.app).connect() as conn:
            row = (await conn.execute(PRINCIPAL_BY_TOKEN_HASH, {"token_hash": hash_token(token.strip())})).first()
        if row is None:
            await budget.record_failure(address)
            raise NotAuthorizedException("Invalid, expired or revoked bearer token", headers=_CHALLENGE)
        principal = Principal(row.tenant_id, row.user_id, row.time_zone, frozenset(row.scopes))
        return AuthenticationResult(user=principal, auth=token)
