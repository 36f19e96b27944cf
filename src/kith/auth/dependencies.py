from __future__ import annotations

from litestar import Request

from kith.auth.principal import Principal


def provide_principal(request: Request) -> Principal:
    return request.user
