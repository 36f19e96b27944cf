from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec

from kith.pagination.page import Page

# Every provider a connection may be with; Google's is made through the OAuth flow of the API, GitHub's and
# X's from a token (`kith connect github|x`).
Provider = Literal["google", "github", "x"]
OAuthProvider = Literal["google"]


class Connection(msgspec.Struct):
    """A link to an external account. Its tokens are never shown."""

    id: int
    provider: Provider
    account: str  # the account: Gmail's emailAddress, the GitHub login, the X username
    scopes: list[str]
    status: Literal["active", "needs_reauth"]  # needs_reauth: the grant was revoked; connect again
    current_run_id: int | None  # the sync run queued or running now
    last_run_id: int | None
    last_run_status: str | None
    last_sync_at: dt.datetime | None  # when a sync last succeeded
    next_sync_at: dt.datetime | None
    last_error: str | None
    created_at: dt.datetime
    repositories: list[str] = []  # GitHub: the repositories it syncs (OWNER/NAME)


ConnectionPage = Page[Connection]


class AuthorizationLink(msgspec.Struct):
    """Where to send the user's browser to grant access; the flow ends at the callback."""

    authorization_url: str
    expires_in: int  # seconds the link stays valid
