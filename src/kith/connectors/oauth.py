"""OAuth 2.0 with Google: the authorization-code flow with PKCE (RFC 7636), and refreshing access tokens.

The authorization URL carries a PKCE challenge (S256) and a `state` sealed by kith.connectors.crypto:
it names the tenant, the user and the redirect URI, holds the PKCE verifier, and expires after
STATE_MAX_AGE seconds, so a callback can only complete a flow this server started, recently (Google takes a code once).
The token endpoint takes form-encoded bodies and answers JSON (`access_token`, `expires_in`,
`refresh_token`, `scope`) or an error (`{"error": "invalid_grant", "error_description": …}`).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
import msgspec

from kith.config import ConnectorSettings
from kith.connectors.api_client import ApiError, InvalidGrant, decode_json

# What a Google connection reads: mail metadata and headers (the `q` search needs gmail.readonly, not
# gmail.metadata), the address book, the calendar's events, and the account's address.
GOOGLE_SCOPES = (
    "https://www.googleapis.com/auth/gmail.readonly",
    "https://www.googleapis.com/auth/contacts.readonly",
    "https://www.googleapis.com/auth/calendar.readonly",
    "email",
)
GMAIL_SCOPE, CONTACTS_SCOPE, CALENDAR_SCOPE = GOOGLE_SCOPES[:3]
STATE_MAX_AGE = 600
# An access token is refreshed when it has less than this left (a run's requests must not outlive it).
REFRESH_MARGIN = dt.timedelta(minutes=5)


class FlowState(msgspec.Struct, array_like=True):
    """What the sealed `state` carries through the browser."""

    tenant_id: int
    user_id: int
    provider: str
    redirect_uri: str
    code_verifier: str
    days_back: int | None = None


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str
    expires_at: dt.datetime
    refresh_token: str | None  # Google sends one on the code exchange (access_type=offline), not on refreshes
    scopes: tuple[str, ...]


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, code_challenge): 43+ url-safe characters, and their SHA-256, base64url without padding."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorization_url(settings: ConnectorSettings, redirect_uri: str, state: str, code_challenge: str) -> str:
    query = {
        "client_id": settings.google_client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": " ".join(GOOGLE_SCOPES),
        "state": state,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
        "access_type": "offline",  # a refresh token, for syncs without the user
        "prompt": "consent",  # … every time, even when the user granted access before
        "include_granted_scopes": "true",
    }
    return f"{settings.google_auth_url}?{urlencode(query)}"


async def _token_request(http: httpx.AsyncClient, settings: ConnectorSettings, form: dict[str, str]) -> Tokens:
    form = {**form, "client_id": settings.google_client_id or "", "client_secret": settings.google_client_secret or ""}
    response = await http.post(settings.google_token_url, data=form)
    body = decode_json(response)
    if not response.is_success or not isinstance(body, dict):
        error = body.get("error") if isinstance(body, dict) else None
        if error == "invalid_grant":
            raise InvalidGrant(body.get("error_description") or "invalid_grant")
        # Never the form (it holds the code, the verifier or the refresh token): the status and error only.
        raise ApiError(response.status_code, {"error": {"message": str(error or response.status_code)}}, "token")
    expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=int(body.get("expires_in") or 3600))
    return Tokens(
        access_token=body["access_token"],
        expires_at=expires_at,
        refresh_token=body.get("refresh_token"),
        scopes=tuple(str(body.get("scope") or "").split()),
    )


async def exchange_code(
    http: httpx.AsyncClient, settings: ConnectorSettings, code: str, code_verifier: str, redirect_uri: str
) -> Tokens:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": code_verifier,
        "redirect_uri": redirect_uri,
    }
    return await _token_request(http, settings, form)


async def refresh_access(http: httpx.AsyncClient, settings: ConnectorSettings, refresh_token: str) -> Tokens:
    return await _token_request(http, settings, {"grant_type": "refresh_token", "refresh_token": refresh_token})
