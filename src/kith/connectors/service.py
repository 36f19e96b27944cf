"""Connections: made by OAuth (or a refresh token), listed, deleted, synced now or on schedule.

A sync is a sync run (source: the provider) whose job is requested in the same transaction
(kith.jobqueue.outbox), one run at a time per connection.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import msgspec
from litestar.status_codes import HTTP_409_CONFLICT, HTTP_503_SERVICE_UNAVAILABLE
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from kith.auth.principal import Principal
from kith.config import ConnectorSettings, get_settings
from kith.connectors import queries
from kith.connectors.api_client import TIMEOUT, ApiClient, ApiError, InvalidGrant, access_token, decode_json
from kith.connectors.crypto import InvalidToken, open_state, seal_state, seal_token
from kith.connectors.github import GitHubApi
from kith.connectors.oauth import (
    STATE_MAX_AGE,
    FlowState,
    Tokens,
    authorization_url,
    exchange_code,
    pkce_pair,
    refresh_access,
)
from kith.connectors.schemas import AuthorizationLink, Connection
from kith.connectors.x import XApi, refresh_x_token
from kith.jobqueue import names
from kith.jobqueue.outbox import request_job, send_requested, take_requested
from kith.plans import PlanLimits
from kith.plans.enforce import check_connector
from kith.plans.queries import PLAN_OF_TENANT
from kith.problems import bad_request, not_found, problem
from kith.sync.receiving import create_run
from kith.sync.schemas import RunOptions, SyncRunDetail

CALLBACK_PATH = "/api/v1/connections/{provider}/callback"


class ConnectError(Exception):
    """A connection could not be made (the code or refresh token was refused, the account unreadable)."""


def callback_url(provider: str) -> str:
    """Where Google sends the browser back: on KITH_PUBLIC_URL, else on the address Kith serves on."""
    http = get_settings().http
    base = http.public_url or f"http://{http.host}:{http.port}"
    return base + CALLBACK_PATH.format(provider=provider)


def _configured(settings: ConnectorSettings) -> None:
    if not settings.google_client_id or not settings.google_client_secret:
        raise problem(
            HTTP_503_SERVICE_UNAVAILABLE,
            "Service Unavailable",
            "Google is not configured on this server (KITH_GOOGLE_CLIENT_ID, KITH_GOOGLE_CLIENT_SECRET)",
        )


def authorization_link(
    tenant_id: int, user_id: int, provider: str, redirect_uri: str, days_back: int | None
) -> AuthorizationLink:
    verifier, challenge = pkce_pair()
    state = seal_state(FlowState(tenant_id, user_id, provider, redirect_uri, verifier, days_back))
    url = authorization_url(get_settings().connectors, redirect_uri, state, challenge)
    return AuthorizationLink(authorization_url=url, expires_in=STATE_MAX_AGE)


def start_authorization(
    principal: Principal, plan: PlanLimits, provider: str, days_back: int | None
) -> AuthorizationLink:
    check_connector(plan, provider)
    _configured(get_settings().connectors)
    return authorization_link(principal.tenant_id, principal.user_id, provider, callback_url(provider), days_back)


def open_flow(provider: str, state: str) -> FlowState:
    try:
        flow = open_state(state, FlowState, STATE_MAX_AGE)
    except (InvalidToken, msgspec.DecodeError, msgspec.ValidationError):
        raise bad_request("The authorization state is invalid or expired: connect again") from None
    if flow.provider != provider:
        raise bad_request("The authorization state was issued for another provider")
    return flow


async def finish_authorization(session: AsyncSession, provider: str, code: str, flow: FlowState) -> int:
    """Exchange the code (with the PKCE verifier), store the connection and queue its first sync; its id."""
    settings = get_settings().connectors
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        try:
            tokens = await exchange_code(http, settings, code, flow.code_verifier, flow.redirect_uri)
        except (InvalidGrant, ApiError) as exc:
            raise bad_request(f"Google refused the authorization code: {exc}") from None
        if not tokens.refresh_token:
            raise bad_request("Google sent no refresh token: connect again")
        try:
            return await save_connection(session, http, flow.tenant_id, flow.user_id, tokens, flow.days_back)
        except ConnectError as exc:
            raise bad_request(str(exc)) from None


async def connect_with_refresh_token(
    engine: AsyncEngine,
    tenant_id: int,
    user_id: int,
    refresh_token: str,
    days_back: int | None,
    provider: str = "google",
) -> int:
    """A connection from a refresh token got elsewhere (headless servers, tests); its first sync is sent."""
    if provider == "x":
        return await connect_x(engine, tenant_id, user_id, refresh_token, days_back)
    settings = get_settings().connectors
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        try:
            tokens = await refresh_access(http, settings, refresh_token)
        except (InvalidGrant, ApiError) as exc:
            raise ConnectError(f"Google refused the refresh token: {exc}") from None
        tokens = Tokens(tokens.access_token, tokens.expires_at, refresh_token, tokens.scopes)
        async with AsyncSession(engine) as session, session.begin():
            connection_id = await save_connection(session, http, tenant_id, user_id, tokens, days_back)
            requested = take_requested(session)
    await send_requested(engine, requested)
    return connection_id


REPOSITORY = re.compile(r"[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}")


async def _plan_allows(session: AsyncSession, tenant_id: int, provider: str) -> None:
    plan = (await session.execute(PLAN_OF_TENANT, {"tenant_id": tenant_id})).first()
    if plan is None or provider not in plan.connectors:
        raise ConnectError(f"The {plan.name if plan else ''} plan does not include the {provider} source")


async def connect_github(
    engine: AsyncEngine, tenant_id: int, user_id: int, token: str, repositories: list[str], days_back: int | None
) -> int:
    """A GitHub connection from a personal access token (or an app's user token) and the repositories it
    syncs; each must be readable with the token. Its first sync is sent; its id."""
    settings = get_settings().connectors
    repositories = list(dict.fromkeys(repositories))
    if not repositories or not all(REPOSITORY.fullmatch(r) for r in repositories):
        raise ConnectError("name one or more repositories as OWNER/NAME")
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        api = GitHubApi(http, settings, access_token(token, "GitHub"))
        try:
            response = await api.get(f"{settings.github_api_url}/user")
            for repository in repositories:
                await api.get(f"{settings.github_api_url}/repos/{repository}")
        except InvalidGrant:
            raise ConnectError("GitHub refused the token") from None
        except (ApiError, httpx.HTTPError) as exc:
            raise ConnectError(f"GitHub refused: {exc}") from None
    account = str(decode_json(response).get("login") or "")
    scopes = [s.strip() for s in response.headers.get("x-oauth-scopes", "").split(",") if s.strip()]
    sealed = seal_token(token)
    params = {
        "tenant_id": tenant_id,
        "user_id": user_id,
        "provider": "github",
        "account": account,
        "scopes": scopes,
        "refresh_token": sealed,
        "access_token": sealed,
        "access_expires_at": None,
        "options": msgspec.json.encode({"days_back": days_back, "repos": repositories}).decode(),
    }
    async with AsyncSession(engine) as session, session.begin():
        await _plan_allows(session, tenant_id, "github")
        connection_id = (await session.execute(queries.UPSERT_CONNECTION, params)).scalar_one()
        await queue_run(session, tenant_id, user_id, "github", connection_id)
        requested = take_requested(session)
    await send_requested(engine, requested)
    return connection_id


async def connect_x(
    engine: AsyncEngine, tenant_id: int, user_id: int, refresh_token: str, days_back: int | None
) -> int:
    """An X connection from a refresh token (scopes dm.read, users.read, tweet.read, offline.access). The
    refresh is made at once (it replaces the token: the one given stops working); its first sync is sent."""
    settings = get_settings().connectors
    if not settings.x_client_id:
        raise ConnectError("X is not configured on this server (KITH_X_CLIENT_ID, and KITH_X_CLIENT_SECRET)")
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        try:
            tokens = await refresh_x_token(http, settings, refresh_token)
            api = XApi(http, settings, access_token(tokens.access_token, "X"))
            me = decode_json(await api.get(f"{settings.x_api_url}/2/users/me", {"user.fields": "username"}))
        except InvalidGrant as exc:
            raise ConnectError(f"X refused the refresh token: {exc}") from None
        except (ApiError, httpx.HTTPError) as exc:
            raise ConnectError(f"X refused: {exc}") from None
    account = (me.get("data") or {}) if isinstance(me, dict) else {}
    assert tokens.refresh_token is not None
    params = {
        "tenant_id": tenant_id,
        "user_id": user_id,
        "provider": "x",
        "account": str(account.get("username") or ""),
        "scopes": list(tokens.scopes),
        "refresh_token": seal_token(tokens.refresh_token),
        "access_token": seal_token(tokens.access_token),
        "access_expires_at": tokens.expires_at,
        "options": msgspec.json.encode({"days_back": days_back, "account_id": str(account.get("id") or "")}).decode(),
    }
    async with AsyncSession(engine) as session, session.begin():
        await _plan_allows(session, tenant_id, "x")
        connection_id = (await session.execute(queries.UPSERT_CONNECTION, params)).scalar_one()
        await queue_run(session, tenant_id, user_id, "x", connection_id)
        requested = take_requested(session)
    await send_requested(engine, requested)
    return connection_id


async def _account_address(http: httpx.AsyncClient, access_token: str) -> str:
    async def token(force: bool) -> str:
        return access_token

    api = ApiClient(http, get_settings().connectors, token)
    try:
        profile = await api.get_json(f"{get_settings().connectors.gmail_api_url}/gmail/v1/users/me/profile")
    except (ApiError, httpx.HTTPError) as exc:
        raise ConnectError(f"Could not read the account's address: {exc}") from None
    return str(profile["emailAddress"]).lower()


async def save_connection(
    session: AsyncSession,
    http: httpx.AsyncClient,
    tenant_id: int,
    user_id: int,
    tokens: Tokens,
    days_back: int | None,
    provider: str = "google",
) -> int:
    """Store (or renew) the connection with its tokens sealed, and queue its first sync (sent after commit)."""
    assert tokens.refresh_token is not None
    params = {
        "tenant_id": tenant_id,
        "user_id": user_id,
        "provider": provider,
        "account": await _account_address(http, tokens.access_token),
        "scopes": list(tokens.scopes),
        "refresh_token": seal_token(tokens.refresh_token),
        "access_token": seal_token(tokens.access_token),
        "access_expires_at": tokens.expires_at,
        "options": msgspec.json.encode({"days_back": days_back}).decode(),
    }
    connection_id = (await session.execute(queries.UPSERT_CONNECTION, params)).scalar_one()
    await queue_run(session, tenant_id, user_id, provider, connection_id)
    return connection_id


async def queue_run(
    session: AsyncSession | AsyncConnection, tenant_id: int, user_id: int, provider: str, connection_id: int
) -> Any:
    run = await create_run(session, tenant_id, user_id, provider, None, RunOptions(connection_id=connection_id))
    await session.execute(queries.SET_CURRENT_RUN, {"tenant_id": tenant_id, "id": connection_id, "run_id": run.id})
    await request_job(session, names.CONNECTION_SYNC, sync_run_id=run.id)
    return run


async def get_connection(session: AsyncSession, tenant_id: int, connection_id: int) -> Connection:
    row = (await session.execute(queries.GET_CONNECTION, {"tenant_id": tenant_id, "id": connection_id})).first()
    if row is None:
        raise not_found("No such connection")
    return msgspec.convert(row._asdict(), Connection)


async def delete_connection(session: AsyncSession, tenant_id: int, connection_id: int) -> None:
    """Forget the connection and its tokens; what it imported stays."""
    if (
        await session.execute(queries.DELETE_CONNECTION, {"tenant_id": tenant_id, "id": connection_id})
    ).first() is None:
        raise not_found("No such connection")


async def sync_now(session: AsyncSession, tenant_id: int, plan: PlanLimits, connection_id: int) -> SyncRunDetail:
    """Queue a sync of the connection (409 while one is queued or running, or the grant was revoked)."""
    row = (await session.execute(queries.LOCK_FOR_SYNC, {"tenant_id": tenant_id, "id": connection_id})).first()
    if row is None:
        raise not_found("No such connection")
    if row.status == "needs_reauth":
        raise problem(HTTP_409_CONFLICT, "Conflict", "The provider revoked this connection's access: connect again")
    if row.busy:
        raise problem(HTTP_409_CONFLICT, "Conflict", "A sync of this connection is queued or running")
    check_connector(plan, row.provider)
    run = await queue_run(session, tenant_id, row.user_id, row.provider, connection_id)
    return msgspec.convert(run._asdict(), SyncRunDetail)


async def queue_due_syncs(engine: AsyncEngine, limit: int = 100) -> int:
    """The scheduler's tick: a run for each active connection due (or its stalled run, again)."""
    settings = get_settings().connectors
    params = {"limit": limit, "interval": settings.sync_interval, "stale": settings.stale_after}
    async with AsyncSession(engine) as session, session.begin():
        due = (await session.execute(queries.CLAIM_DUE, params)).all()
        for row in due:
            if row.resume_run_id is not None:
                await request_job(session, names.CONNECTION_SYNC, sync_run_id=row.resume_run_id)
            else:
                await queue_run(session, row.tenant_id, row.user_id, row.provider, row.id)
        requested = take_requested(session)
    await send_requested(engine, requested)
    return len(due)
