from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from kith.auth.principal import Principal
from kith.auth.queries import PRINCIPAL_BY_TOKEN_HASH
from kith.auth.tokens import hash_token
from kith.db.config import app_reader

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="kith"'}


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    """`Authorization: Bearer <token>` → `request.user` is a Principal; anything else is a 401."""

    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthorizedException("Missing bearer token", headers=_CHALLENGE)
        async with app_reader(connection.app).connect() as conn:
            row = (await conn.execute(PRINCIPAL_BY_TOKEN_HASH, {"token_hash": hash_token(token.strip())})).first()
        if row is None:
            raise NotAuthorizedException("Invalid, expired or revoked bearer token", headers=_CHALLENGE)
        principal = Principal(row.tenant_id, row.user_id, row.time_zone, frozenset(row.scopes))
        return AuthenticationResult(user=principal, auth=token)
