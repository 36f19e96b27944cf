"""Running a connection's sync run: its sources' steps through the import pipeline, checkpointed per step.

Like a file import (kith.sync.running): the run is claimed under the tenant's import lock, each batch
lands through kith.sync.batch_writer, and the run is finished with the same counts and stages, then
scored and refreshed by the job chain. Unlike one, each step's checkpoint (page token, history id,
sync token) commits in the transaction of its batch, so a run killed half-way resumes after the last
step that landed, and what landed is never written twice (messages are keyed by Gmail's id, people
by resource name and email). A revoked grant (`invalid_grant`) marks the connection needs_reauth,
which stops its schedule; every other outcome is recorded on the run and the connection.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from contextlib import aclosing
from dataclasses import replace
from typing import Any

import asyncpg
import httpx
import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kith.config import ConnectorSettings, get_settings
from kith.connectors import queries
from kith.connectors.api_client import TIMEOUT, ApiClient, ApiError, InvalidGrant, access_token
from kith.connectors.calendar import THREAD_PREFIX, CalendarSource
from kith.connectors.crypto import open_token, seal_token
from kith.connectors.github import GitHubApi, GitHubSource
from kith.connectors.gmail import GmailSource
from kith.connectors.oauth import CALENDAR_SCOPE, CONTACTS_SCOPE, GMAIL_SCOPE, REFRESH_MARGIN, refresh_access
from kith.connectors.people import KEY_KIND, PeopleSource
from kith.connectors.x import XApi, XSource, refresh_x_token
from kith.observability.metrics import record_sync
from kith.sync import queries as sync_queries
from kith.sync.batch_writer import RunTarget, Totals, run_session, write_batch
from kith.sync.sources import MessageRecord, Record
from kith.transient import is_transient

logger = logging.getLogger(__name__)

RUNNABLE = ("queued", "running")


class ConnectionGone(Exception):
    """The connection was deleted while its run went on."""


def _json(value: Any) -> Any:
    """A jsonb value read on the raw driver connection (text, unless a codec decoded it)."""
    return msgspec.json.decode(value) if isinstance(value, (str, bytes)) else value


def _when(record: Record) -> dt.datetime | None:
    return record.sent_at if isinstance(record, MessageRecord) else None


class ConnectionTokens:
    """The connection's access token, refreshed (and stored sealed) when it is about to expire or refused."""

    def __init__(self, driver: asyncpg.Connection, http: httpx.AsyncClient, settings: ConnectorSettings, row: Any):
        self.driver, self.http, self.settings = driver, http, settings
        self.connection_id = row["id"]
        self.refresh_token = row["refresh_token"]
        self.access = open_token(row["access_token"]) if row["access_token"] else None
        self.expires_at = row["access_expires_at"]
        self.lock = asyncio.Lock()

    def _fresh(self) -> bool:
        return self.access is not None and self.expires_at - REFRESH_MARGIN > dt.datetime.now(dt.UTC)

    async def __call__(self, force: bool) -> str:
        async with self.lock:
            if force or not self._fresh():
                tokens = await refresh_access(self.http, self.settings, open_token(self.refresh_token))
                self.access, self.expires_at = tokens.access_token, tokens.expires_at
                await self.driver.execute(
                    queries.SAVE_ACCESS_TOKEN, self.connection_id, seal_token(tokens.access_token), tokens.expires_at
                )
            assert self.access is not None
            return self.access


class XTokens(ConnectionTokens):
    """An X connection's tokens: each refresh replaces the refresh token too, stored before it is used."""

    async def __call__(self, force: bool) -> str:
        async with self.lock:
            if force or not self._fresh():
                tokens = await refresh_x_token(self.http, self.settings, open_token(self.refresh_token))
                assert tokens.refresh_token is not None
                self.refresh_token = seal_token(tokens.refresh_token)
                self.access, self.expires_at = tokens.access_token, tokens.expires_at
                await self.driver.execute(
                    queries.SAVE_TOKENS,
                    self.connection_id,
                    self.refresh_token,
                    seal_token(tokens.access_token),
                    tokens.expires_at,
                )
            assert self.access is not None
            return self.access


async def execute_connection_run(engine: AsyncEngine, sync_run_id: int) -> None:
    """Run a queued (or interrupted) connector run; a finished one is left alone, so a redelivery is harmless.

    Transient database failures are raised for the job queue to retry: the run stays 'running' and its
    next delivery resumes from the checkpoint.
    """
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        run = (await conn.exec_driver_sql(sync_queries.RUN_FOR_WORK, (sync_run_id,))).first()
        if run is None or run.status not in RUNNABLE:
            return
        async with run_session(conn, run.tenant_id):
            claimed = (await conn.exec_driver_sql(sync_queries.CLAIM_RUN, (sync_run_id,))).first()
            if claimed is None:
                return
            await _execute(conn, run, claimed)


async def _execute(conn: AsyncConnection, run: Any, claimed: Any) -> None:
    settings = get_settings().connectors
    driver = (await conn.get_raw_connection()).driver_connection
    connection_id = (run.options or {}).get("connection_id")
    row = await driver.fetchrow(queries.CONNECTION_FOR_RUN, run.tenant_id, connection_id)
    target = RunTarget(run.tenant_id, run.id, run.source, KEY_KIND, _when, run.max_contacts)
    totals = Totals.resumed(claimed)  # the counts of the steps landed before an interruption
    stats: dict[str, Any] = {
        "connection_id": connection_id,
        "notes": [],
        "deleted": {"messages": 0, "contacts": 0, "meetings": 0},
    }
    status, error, reauth = "succeeded", None, False
    api = None
    try:
        if row is None:
            raise ConnectionGone("the connection was deleted")
        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            api, sources = _sources(driver, http, settings, row, run.skip_bulk_mail)
            for source in sources:
                source_target = replace(target, key_kind=getattr(source, "key_kind", KEY_KIND))
                await _run_source(
                    driver, conn, source_target, source, _json(row["checkpoint"]).get(source.key, {}), totals, stats
                )
    except InvalidGrant as exc:
        status, error, reauth = "failed", f"invalid_grant: {exc}: connect again", True
    except (ApiError, httpx.HTTPError, ConnectionGone) as exc:
        status, error = "failed", f"{type(exc).__name__}: {exc}"[:2000]
    except Exception as exc:
        if is_transient(exc):
            raise  # left 'running': delivered again, it resumes from the checkpoint
        status, error = "failed", f"{type(exc).__name__}: {exc}"[:2000]
        logger.exception("sync_run=%s failed", run.id)
    extra = {
        **totals.stage_counts(),
        "deleted": stats["deleted"],
        "notes": stats["notes"],
        "requests": api.requests if api else 0,
        "retries": api.retries if api else 0,
        "retry_wait_seconds": round(api.waited, 3) if api else 0,
        **getattr(api, "extra", {}),
    }
    done = (
        await conn.exec_driver_sql(
            sync_queries.FINISH_RUN,
            (run.id, run.tenant_id, status, error, msgspec.json.encode(extra).decode(), totals.newest),
        )
    ).one()
    if row is not None:
        await driver.execute(queries.FINISH_CONNECTION_RUN, row["id"], run.id, error, reauth, settings.sync_interval)
    record_sync(run.source, max(done.duration_ms or 0, 1) / 1000, done)
    logger.info(
        "sync_run id=%s tenant=%s source=%s connection=%s status=%s seen=%s inserted=%s updated=%s requests=%s "
        "retries=%s error=%s",
        run.id,
        run.tenant_id,
        run.source,
        connection_id,
        status,
        done.rows_seen,
        done.rows_inserted,
        done.rows_updated,
        extra["requests"],
        extra["retries"],
        error,
    )


def _sources(
    driver: asyncpg.Connection, http: httpx.AsyncClient, settings: ConnectorSettings, row: Any, skip_bulk_mail: bool
) -> tuple[Any, list[Any]]:
    """The connection's API client and sources. Google: the address book first (mail and meetings then find
    its people), then the mail, then the calendar, each only if its scope was granted."""
    options = _json(row["options"])
    days_back = options.get("days_back")
    if row["provider"] == "github":
        github = GitHubApi(http, settings, access_token(open_token(row["refresh_token"]), "GitHub"))
        repositories = options.get("repos") or []
        return github, [GitHubSource(github, settings.github_api_url, row["account"], repositories, days_back)]
    if row["provider"] == "x":
        x = XApi(http, settings, XTokens(driver, http, settings, row))
        return x, [XSource(x, settings.x_api_url, options.get("account_id") or "", days_back)]
    api = ApiClient(http, settings, ConnectionTokens(driver, http, settings, row))
    scopes = set(row["scopes"]) or {CONTACTS_SCOPE, GMAIL_SCOPE, CALENDAR_SCOPE}
    sources: list[Any] = []
    if CONTACTS_SCOPE in scopes:
        sources.append(PeopleSource(api, settings.people_api_url))
    if GMAIL_SCOPE in scopes:
        concurrency = settings.fetch_concurrency
        sources.append(GmailSource(api, settings.gmail_api_url, row["account"], days_back, concurrency, skip_bulk_mail))
    if CALENDAR_SCOPE in scopes:
        sources.append(CalendarSource(api, settings.calendar_api_url, days_back))
    return api, sources


async def _delete(driver: asyncpg.Connection, target: RunTarget, source_key: str, ids: list[str]) -> tuple[str, int]:
    """Apply what the provider deleted: (what it was, how many rows went)."""
    tenant_id, run_id = target.tenant_id, target.sync_run_id
    if source_key == "gmail":
        return "messages", await driver.fetchval(queries.DELETE_MESSAGES, tenant_id, target.source, ids, run_id)
    if source_key == "calendar":
        threads = [THREAD_PREFIX + i for i in ids]
        return "meetings", await driver.fetchval(
            queries.DELETE_EVENT_MESSAGES, tenant_id, target.source, threads, run_id
        )
    return "contacts", await driver.fetchval(queries.SOFT_DELETE_CONTACTS, tenant_id, KEY_KIND, ids)


async def _run_source(
    driver: asyncpg.Connection,
    conn: AsyncConnection,
    target: RunTarget,
    source: Any,
    checkpoint: dict[str, Any],
    totals: Totals,
    stats: dict[str, Any],
) -> None:
    async with aclosing(source.steps(checkpoint)) as steps:
        async for step in steps:
            if step.note:
                stats["notes"].append(step.note)
            async with driver.transaction():
                # Deletions first: a changed event's interactions are replaced by the batch's.
                if step.deleted:
                    kind, deleted = await _delete(driver, target, source.key, step.deleted)
                    stats["deleted"][kind] += deleted
                if step.people is not None and step.people.seen:
                    await write_batch(conn, target, step.people, totals)  # the contacts the batch's messages find
                if step.batch is not None and step.batch.seen:
                    await write_batch(conn, target, step.batch, totals)
                saved = await driver.fetchval(
                    queries.SAVE_CHECKPOINT,
                    stats["connection_id"],
                    source.key,
                    msgspec.json.encode(step.checkpoint).decode(),
                )
                if saved is None:
                    raise ConnectionGone("the connection was deleted")
