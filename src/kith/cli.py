"""The `kith` command. Machine-readable output (a token, an id) alone on stdout; progress and errors on stderr."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kith.config import get_settings

if TYPE_CHECKING:
    import datetime as dt

# Heavy modules (asyncio, SQLAlchemy, the models, Litestar, uvicorn) are imported inside the commands that
# need them, so `kith --help` and `kith token create` start in a fraction of a second.

DEMO_TENANT = "demo"
DEMO_TOKEN_FILE = "demo_token"


def _run(coro):
    import asyncio

    return asyncio.run(coro)


def _database_url(*, existing: bool = False) -> str:
    """The database URL; says so on stderr when this is the first start of an embedded server (it takes a while).

    `existing`: the command works on data that must be there already (a tenant, a token), so with no
    DATABASE_URL and no embedded database in the data folder it says where it looked instead of creating one.
    """
    from kith.db.engine import database_url

    settings = get_settings()
    if not settings.database.url and not (settings.data_dir / "pg").exists():
        if existing:
            raise click.ClickException(
                f"no Kith database: DATABASE_URL is not set and {settings.data_dir} holds none (looked for a .kith "
                f"folder from {Path.cwd()} up, then KITH_DATA_DIR's default); run this where you ran `kith demo` or "
                "`kith tenant create`, or set DATABASE_URL or KITH_DATA_DIR"
            )
        _echo_err(f"kith: no DATABASE_URL: creating an embedded PostgreSQL in {settings.data_dir} (first run only)")
    return database_url()


async def _owner_of(tenant_name: str):
    """The tenant and its owner; a one-line error naming `kith tenant create` when there is no such tenant."""
    from kith.auth.accounts import UnknownTenantError, find_tenant_owner
    from kith.db.session import raw_connection

    async with raw_connection(_database_url(existing=True)) as conn:
        try:
            return await find_tenant_owner(conn, tenant_name)
        except UnknownTenantError as exc:
            raise click.ClickException(str(exc)) from None


def _echo_err(message: str) -> None:
    click.echo(message, err=True)


@click.group()
@click.version_option(package_name="kith", prog_name="kith", message="%(prog)s %(version)s")
def cli() -> None:
    """Kith: the backend of a relationship app."""


@cli.command()
@click.option("--host", default=None, help="Interface to bind (default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default 8000).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
def serve(host: str | None, port: int | None, workers: int) -> None:
    """Serve the API (and the web client at /, the docs at /schema)."""
    host, port = _listen_address(host, port)
    _serve(host, port, workers)


def _listen_address(host: str | None, port: int | None) -> tuple[str, int]:
    """The address to serve on, checked free before any work is done (a clash is one line, not a traceback)."""
    import errno
    import socket

    settings = get_settings()
    host, port = host or settings.http.host, port or settings.http.port
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, kind, proto, _, address = addresses[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            why = "the port is in use (is Kith already running?)" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise click.ClickException(f"cannot listen on {host}:{port}: {why}; choose another with --port") from None
    return host, port


def _serve(host: str, port: int, workers: int) -> None:
    import uvicorn

    from kith.server.connections import HeaderDeadlineProtocol

    # Resolve (and, if embedded, start) the database once here; worker processes inherit the URL.
    os.environ["DATABASE_URL"] = _database_url()
    os.environ["KITH_DB_PROCESSES"] = str(workers)  # they share KITH_DB_CONNECTIONS (kith.db.budget)
    get_settings.cache_clear()  # read again, with the URL resolved
    metrics_dir = None
    if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Each worker process writes its metrics here; /metrics (in any of them) adds them up.
        metrics_dir = get_settings().data_dir / "metrics" / str(os.getpid())
        metrics_dir.mkdir(parents=True, exist_ok=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    trusted_proxies = get_settings().http.trusted_proxies
    try:
        uvicorn.run(
            "kith.app:create_served_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="info",
            access_log=False,  # a log line per request costs more than the request itself
            # Forwarded headers only from the configured proxies (uvicorn trusts 127.0.0.1 by default, so a
            # client on the same host would choose the address its limits are counted on).
            proxy_headers=bool(trusted_proxies),
            forwarded_allow_ips=list(trusted_proxies),
            # Slow and idle clients are closed (kith.server.connections).
            http=HeaderDeadlineProtocol,
            timeout_keep_alive=get_settings().http.keep_alive_timeout,
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


@cli.command()
def migrate() -> None:
    """Apply database migrations up to head."""
    from kith.db.migrations import head_revision, upgrade

    upgrade(_database_url())
    click.echo(head_revision())


@cli.group()
def tenant() -> None:
    """Tenants."""


def _time_zone(ctx: click.Context | None, param: click.Parameter | None, value: str) -> str:
    """A time zone of the IANA database; an unknown one is refused with the closest valid names."""
    import difflib
    import zoneinfo

    zones = zoneinfo.available_timezones()
    if value in zones:
        return value
    by_folded = {zone.casefold(): zone for zone in zones}
    if value.casefold() in by_folded:
        return by_folded[value.casefold()]
    close = [by_folded[z] for z in difflib.get_close_matches(value.casefold(), by_folded, n=3, cutoff=0.6)]
    # "Paris" → Europe/Paris: the place alone matches the last part of a name.
    close += [z for z in sorted(zones) if z.rsplit("/", 1)[-1].casefold() == value.casefold() and z not in close]
    hint = f"; did you mean {', '.join(close)}?" if close else " (names look like Europe/Paris or America/New_York)"
    raise click.BadParameter(f"{value!r} is not a time zone{hint}", ctx=ctx, param=param)


@tenant.command("create")
@click.argument("name")
@click.option("--time-zone", default="UTC", show_default=True, callback=_time_zone)
def tenant_create(name: str, time_zone: str) -> None:
    """Create a tenant (and its owner user); print its id. Idempotent: an existing tenant's id is printed."""
    from kith.auth.accounts import TenantConflictError, ensure_tenant
    from kith.db.session import raw_connection

    async def run():
        async with raw_connection(_database_url()) as conn:
            return await ensure_tenant(conn, name, time_zone)

    try:
        owner = _run(run())
    except TenantConflictError as exc:
        raise click.ClickException(str(exc)) from None
    if not owner.created:
        _echo_err(f"kith: tenant {name!r} exists already")
    click.echo(owner.tenant_id)


@tenant.command("list")
def tenant_list() -> None:
    """Print every tenant, one JSON object a line (id, name, time_zone, plan, skip_bulk_mail, created_at)."""
    import msgspec

    from kith.auth.accounts import list_tenants

    for row in _run(_on_connection(list_tenants)):
        click.echo(msgspec.json.encode(row).decode())


@tenant.command("delete")
@click.argument("name")
@click.confirmation_option(prompt="Delete the tenant and all its contacts, messages and tokens?")
def tenant_delete(name: str) -> None:
    """Delete a tenant and everything it holds; print its id."""
    from kith.auth.accounts import delete_tenant

    click.echo(_run(_on_connection(lambda conn: delete_tenant(conn, name))))


@tenant.command("set-time-zone")
@click.argument("name")
@click.argument("time_zone", callback=_time_zone)
def tenant_set_time_zone(name: str, time_zone: str) -> None:
    """Set the tenant's time zone ("today" for birthdays and follow-ups); print its id."""
    from kith.auth.accounts import set_time_zone

    click.echo(_run(_on_connection(lambda conn: set_time_zone(conn, name, time_zone))))


@tenant.command("set-bulk-mail")
@click.argument("name")
@click.argument("policy", type=click.Choice(["skip", "import"]))
def tenant_set_bulk_mail(name: str, policy: str) -> None:
    """Skip (the default) or import mail from lists and no-reply senders in the tenant's imports; print its id."""
    from kith.auth.accounts import set_skip_bulk_mail

    click.echo(_run(_on_connection(lambda conn: set_skip_bulk_mail(conn, name, policy == "skip"))))


async def _on_connection(work):
    """Run `work(conn)` on one plain connection (no ORM) to existing data; a missing tenant or token is a
    one-line error."""
    from kith.auth.accounts import UnknownTenantError, UnknownTokenError
    from kith.db.session import raw_connection

    async with raw_connection(_database_url(existing=True)) as conn:
        try:
            return await work(conn)
        except (UnknownTenantError, UnknownTokenError) as exc:
            raise click.ClickException(str(exc)) from None


@tenant.command("set-plan")
@click.argument("name")
@click.argument("plan")
def tenant_set_plan(name: str, plan: str) -> None:
    """Put a tenant on a plan (every API process hears of it at once); print the plan's id."""
    from kith.plans.admin import set_tenant_plan

    click.echo(_run(_plan_admin(lambda conn: set_tenant_plan(conn, name, plan))))


@cli.group()
def plan() -> None:
    """Plans: per-tenant limits (requests per minute, contacts, uploads, sources)."""


def _plan_limit_options(command):
    """The limits a plan sets, as options (shared by `plan create` and `plan set`)."""
    options = [
        click.option("--requests-per-minute", type=click.IntRange(min=1), help="Per-token rate limit."),
        click.option("--max-contacts", type=click.IntRange(min=1), help="Live contacts allowed."),
        click.option("--max-upload-bytes", type=click.IntRange(min=1), help="Largest import upload."),
        click.option("--max-uploads-in-flight", type=click.IntRange(min=1), help="Uploads streaming in at once."),
        click.option("--max-queued-runs", type=click.IntRange(min=1), help="Runs queued or running at once."),
        click.option(
            "--connector", "connectors", multiple=True, help="A source the tenant may import (repeatable: all of them)."
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _limits(**values):
    from kith.plans.admin import PlanLimits

    connectors = values.pop("connectors")
    return PlanLimits(**values, connectors=tuple(connectors) if connectors else None)


async def _plan_admin(work):
    """Run `work(conn)` on one plain connection; a PlanError is a one-line error."""
    from kith.db.session import raw_connection
    from kith.plans.admin import PlanError

    async with raw_connection(_database_url(existing=True)) as conn:
        try:
            return await work(conn)
        except PlanError as exc:
            raise click.ClickException(str(exc)) from None


@plan.command("list")
def plan_list() -> None:
    """Print every plan, one JSON object a line (the default plan first, with its number of tenants)."""
    import json

    from kith.plans.admin import list_plans

    for row in _run(_plan_admin(list_plans)):
        click.echo(json.dumps(row))


@plan.command("create")
@click.argument("name")
@_plan_limit_options
def plan_create(name: str, **limits) -> None:
    """Create a plan (limits not given are the default plan's); print its id."""
    from kith.plans.admin import create_plan

    click.echo(_run(_plan_admin(lambda conn: create_plan(conn, name, _limits(**limits)))))


@plan.command("set")
@click.argument("name")
@_plan_limit_options
@click.option("--no-contact-limit", is_flag=True, help="Lift the contact limit.")
def plan_set(name: str, no_contact_limit: bool, **limits) -> None:
    """Change a plan's limits (every API process hears of it at once); print its id."""
    from kith.plans.admin import set_plan

    click.echo(
        _run(_plan_admin(lambda conn: set_plan(conn, name, _limits(**limits), no_contact_limit=no_contact_limit)))
    )


@tenant.command("isolate")
@click.argument("name")
def tenant_isolate(name: str) -> None:
    """Move a tenant into read-model slices of its own now (online; idempotent); print each slice created."""
    from kith.db.session import standalone_engine
    from kith.readmodels.isolation import isolate_tenant

    async def run():
        owner = await _owner_of(name)
        async with standalone_engine() as engine:
            return await isolate_tenant(engine, owner.tenant_id)

    for relation in _run(run()):
        click.echo(relation)


@cli.group()
def token() -> None:
    """API tokens."""


_SCOPE_CHOICE = click.Choice(["read", "write", "import"])
_EXPIRES_IN = click.option(
    "--expires-in",
    "expires_in",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Days until the token expires (default: never).",
)


@token.command("create")
@click.option("--tenant", "tenant_name", required=True)
@click.option("--name", "token_name", default=None, help="A label for the token.")
@click.option(
    "--scope", "scopes", type=_SCOPE_CHOICE, multiple=True, help="What it may do (repeatable; default: all three)."
)
@_EXPIRES_IN
def token_create(tenant_name: str, token_name: str | None, scopes: tuple[str, ...], expires_in: float | None) -> None:
    """Create a bearer token for the tenant's owner; print it (only its hash is stored). The tenant must exist."""
    click.echo(_run(_create_token(tenant_name, token_name, scopes=scopes, expires_in_days=expires_in)))


async def _create_token(
    tenant_name: str,
    token_name: str | None = None,
    *,
    scopes: tuple[str, ...] = (),
    expires_in_days: float | None = None,
) -> str:
    from kith.auth.accounts import UnknownTenantError, create_owner_token
    from kith.db.session import raw_connection

    async with raw_connection(_database_url(existing=True)) as conn:
        try:
            return await create_owner_token(conn, tenant_name, token_name, scopes, expires_in_days)
        except UnknownTenantError as exc:
            raise click.ClickException(str(exc)) from None


@token.command("list")
@click.option("--tenant", "tenant_name", required=True)
def token_list(tenant_name: str) -> None:
    """Print the tenant's tokens, one JSON object a line (id, name, scopes, times; never the token)."""
    import msgspec

    from kith.auth.accounts import list_tokens

    for row in _run(_on_connection(lambda conn: list_tokens(conn, tenant_name))):
        click.echo(msgspec.json.encode(row).decode())


@token.command("revoke")
@click.argument("token_id", type=click.IntRange(min=1))
def token_revoke(token_id: int) -> None:
    """Revoke a token (its next request is a 401); print its id."""
    from kith.auth.accounts import revoke_token

    _run(_on_connection(lambda conn: revoke_token(conn, token_id)))
    click.echo(token_id)


@token.command("rotate")
@click.argument("token_id", type=click.IntRange(min=1))
@_EXPIRES_IN
def token_rotate(token_id: int, expires_in: float | None) -> None:
    """Revoke a token and print its replacement (same tenant, name and scopes)."""
    from kith.auth.accounts import rotate_token

    click.echo(_run(_on_connection(lambda conn: rotate_token(conn, token_id, expires_in))))


@cli.command()
@click.option("--tenant", "tenant_name", required=True)
@click.option("--size", type=click.Choice(["tiny", "small", "medium", "large"]), default="small", show_default=True)
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed ⇒ same rows.")
def seed(tenant_name: str, size: str, seed: int) -> None:
    """Fill a tenant with synthetic data, creating the tenant if it does not exist; print the tenant id.

    A tenant that already has contacts is refused (seed a new one).
    """
    click.echo(_run(_seed(tenant_name, size, seed)))


async def _seed(tenant_name: str, size: str, seed_value: int, *, only_if_empty: bool = False) -> int:
    from sqlalchemy import func, select

    from kith.auth.service import get_or_create_owner, get_or_create_tenant
    from kith.db.session import raw_connection, standalone_session
    from kith.models import Contact
    from kith.seed.generator import seed_tenant

    async with standalone_session(_database_url()) as session:
        row = await get_or_create_tenant(session, tenant_name)
        owner = await get_or_create_owner(session, row)
        has_contacts = await session.scalar(
            select(func.count()).select_from(select(Contact.id).where(Contact.tenant_id == row.id).limit(1).subquery())
        )
        tenant_id, user_id = row.id, owner.id
    if has_contacts:
        if only_if_empty:
            return tenant_id
        raise click.ClickException(f"tenant {tenant_name!r} already has contacts; seed a new tenant")
    async with raw_connection() as conn:
        await seed_tenant(conn, tenant_id=tenant_id, user_id=user_id, size=size, seed=seed_value, progress=_echo_err)
    await _after_seed(tenant_id)
    return tenant_id


async def _after_seed(tenant_id: int) -> None:
    """Score the new contacts (one set-based pass), give a large tenant slices of its own, then bring the
    tenant's slices of the read models up to date (no other tenant's)."""
    import time

    from kith.config import get_settings
    from kith.db.session import standalone_engine
    from kith.readmodels.coalesced_refresh import refresh_tenant
    from kith.readmodels.isolation import isolate_tenant, needs_own_slices
    from kith.scoring.service import rescore_tenant

    async with standalone_engine() as engine:
        started = time.perf_counter()
        scored = await rescore_tenant(engine, tenant_id)
        _echo_err(f"scored {scored:,} contacts in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        if await needs_own_slices(engine, tenant_id, get_settings().jobs.own_slice_contacts):
            await isolate_tenant(engine, tenant_id)  # built with the tenant's rows as they are now
        else:
            await refresh_tenant(engine, tenant_id)
        _echo_err(f"refreshed the tenant's read models in {time.perf_counter() - started:.1f} s")


@cli.command()
@click.argument("provider", type=click.Choice(["google", "github", "x"]))
@click.option("--tenant", "tenant_name", required=True)
@click.option("--refresh-token", default=None, help="Google or X: connect with this refresh token, without a browser.")
@click.option("--token", default=None, help="GitHub: a personal access token (read access to the repositories).")
@click.option(
    "--repo",
    "repositories",
    multiple=True,
    metavar="OWNER/NAME",
    help="GitHub: a repository to sync (repeatable, or comma-separated).",
)
@click.option("--days-back", type=click.IntRange(1, 36500), default=None, help="Sync only the last N days.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, help="Local port for the browser's callback (0: any)."
)
def connect(
    provider: str,
    tenant_name: str,
    refresh_token: str | None,
    token: str | None,
    repositories: tuple[str, ...],
    days_back: int | None,
    port: int,
) -> None:
    """Connect an account and queue its first sync; print the connection id.

    google (Gmail, Google Contacts and Calendar): prints the URL to open in a browser (on stderr) and takes
    the callback on a local port, or, with --refresh-token, needs no browser. github: --token and one or more
    --repo. x (direct messages): --refresh-token (refreshed with the X app's KITH_X_CLIENT_ID).
    """
    repos = [r.strip() for value in repositories for r in value.split(",") if r.strip()]
    if provider == "github" and (not token or not repos):
        raise click.UsageError("github needs --token and at least one --repo OWNER/NAME")
    if provider == "x" and not refresh_token:
        raise click.UsageError("x needs --refresh-token")
    if provider != "github" and (token or repos):
        raise click.UsageError("--token and --repo are for github")
    click.echo(_run(_connect(provider, tenant_name, refresh_token or token, repos, days_back, port)))


async def _connect(
    provider: str, tenant_name: str, token: str | None, repositories: list[str], days_back: int | None, port: int
) -> int:
    owner = await _owner_of(tenant_name)

    from kith.connectors.cli_connect import connect_in_browser
    from kith.connectors.service import ConnectError, connect_github, connect_with_refresh_token
    from kith.db.session import standalone_engine
    from kith.tasks import jobs as _  # noqa: F401 - defines the jobs the connection sends (its first sync)

    def show(url: str) -> None:
        _echo_err(f"Open this URL in a browser to connect {provider}:\n{url}")

    try:
        async with standalone_engine() as engine:
            if provider == "github":
                assert token is not None
                return await connect_github(engine, owner.tenant_id, owner.user_id, token, repositories, days_back)
            if token:
                return await connect_with_refresh_token(
                    engine, owner.tenant_id, owner.user_id, token, days_back, provider
                )
            return await connect_in_browser(engine, owner.tenant_id, owner.user_id, provider, days_back, port, show)
    except ConnectError as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:
        if detail := getattr(exc, "detail", None):  # a problem the API would answer with
            raise click.ClickException(str(detail)) from None
        raise


class _Since(click.ParamType):
    """A date (midnight UTC) or an RFC 3339 time (UTC when it has no offset), as the API's `since` takes."""

    name = "DATE|RFC3339"

    def convert(self, value, param, ctx):
        import datetime as dt

        if isinstance(value, dt.datetime):
            return value
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            self.fail(f"{value!r} is neither a date (2024-01-31) nor an RFC 3339 time (2024-01-31T08:00:00Z)")
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


# Record errors `kith import` prints (all are on the run: GET /api/v1/sync/runs/{id}).
_ERRORS_SHOWN = 5


@cli.command("import")
@click.option("--tenant", "tenant_name", required=True)
@click.option("--source", type=click.Choice(["vcard", "mbox", "linkedin", "contacts_csv", "rss"]), required=True)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--since", type=_Since(), default=None, help="Import only what is dated from then on (a date or RFC 3339)."
)
@click.option("--days-back", type=click.IntRange(1, 36500), default=None, help="Or: only the last N days.")
@click.option(
    "--me", "own_addresses", multiple=True, help="Your own address (mbox; repeatable): mail from it is outgoing."
)
def import_(
    tenant_name: str,
    source: str,
    file: Path,
    since: dt.datetime | None,
    days_back: int | None,
    own_addresses: tuple[str, ...],
) -> None:
    """Import a file into an existing tenant through the sync pipeline (then score and refresh); print the run id."""
    import datetime as dt

    if since is not None and days_back is not None:
        raise click.UsageError("give either --since or --days-back, not both")
    if days_back is not None:
        since = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_back)
    click.echo(_run(_import(tenant_name, source, file, since, list(own_addresses))))


async def _import(
    tenant_name: str, source: str, file: Path, since: dt.datetime | None, own_addresses: list[str]
) -> int:
    from kith.sync.cli_import import check_file
    from kith.sync.sources import SourceFormatError

    json = file.suffix.lower() == ".json"
    with open(file, "rb") as stream:
        try:
            await check_file(source, stream, json=json)  # before the database is even started
        except SourceFormatError as exc:
            raise click.ClickException(f"{file} is not a valid {source} file: {exc}") from None
    owner = await _owner_of(tenant_name)
    tenant_id, user_id = owner.tenant_id, owner.user_id

    from kith.db.session import standalone_engine
    from kith.sync.cli_import import import_file
    from kith.tasks import jobs as _  # noqa: F401 - defines the jobs the import sends (score, refresh)

    size = max(file.stat().st_size, 1)
    with open(file, "rb") as stream:

        def progress(totals) -> None:
            # The parser reads on a thread; the descriptor's offset is how far it got.
            done = os.lseek(stream.fileno(), 0, os.SEEK_CUR) / size
            bar = "#" * int(done * 30)
            click.echo(f"\r{file.name} [{bar:<30}] {done:4.0%} {totals.seen} records", err=True, nl=False)

        async with standalone_engine() as engine:
            run = await import_file(
                engine,
                tenant_id,
                user_id,
                source,
                stream,
                since=since,
                own_addresses=own_addresses,
                json=json,
                progress=progress,
            )
    _echo_err(
        f"\n{file.name}: {run.status}: {run.rows_seen} seen, {run.rows_inserted} inserted, {run.rows_updated} updated, "
        f"{run.rows_skipped} skipped, {run.rows_failed} failed"
    )
    for error in run.errors[:_ERRORS_SHOWN]:
        _echo_err(f"  record {error.index}: {error.reason}: {error.excerpt[:80]!r}")
    if run.rows_failed > _ERRORS_SHOWN:
        _echo_err(
            f"  … and {run.rows_failed - _ERRORS_SHOWN} more record errors (all of them: GET /api/v1/sync/runs/{run.id})"
        )
    if skipped := run.stages.get("sync", {}).get("skipped"):
        _echo_err("skipped: " + ", ".join(f"{count} {reason}" for reason, count in sorted(skipped.items())))
    if dropped := run.stages.get("sync", {}).get("dropped"):
        _echo_err("not imported: " + ", ".join(f"{count} {name} values" for name, count in sorted(dropped.items())))
    if run.status != "succeeded":
        raise click.ClickException(f"sync run {run.id} failed: {run.error}")
    return run.id


@cli.command()
@click.argument("read_model", required=False)
def refresh(read_model: str | None) -> None:
    """Refresh every slice of one read model (or of all) now; print each slice refreshed."""
    from kith.readmodels.coalesced_refresh import refresh_all
    from kith.readmodels.models import READ_MODELS, UnknownReadModelError, read_model_named

    try:
        models = (read_model_named(read_model),) if read_model else READ_MODELS
    except UnknownReadModelError as exc:
        raise click.ClickException(str(exc)) from None
    _database_url(existing=True)
    for outcome in _run(refresh_all(models=models)):
        click.echo(outcome.slice.relation)


@cli.command()
@click.option(
    "--queue",
    type=click.Choice(["sync", "compute"]),
    required=True,
    help="sync: imports (I/O-bound); compute: scoring, refreshes, maintenance.",
)
@click.option("--processes", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--concurrency",
    default=None,
    type=click.IntRange(1, 1000),
    help="Tasks at once per process (default: KITH_SYNC_CONCURRENCY=16 / KITH_COMPUTE_CONCURRENCY=2).",
)
def worker(queue: str, processes: int, concurrency: int | None) -> None:
    """Run jobs from one queue (needs REDIS_URL)."""
    from kith.tasks.worker import run_worker

    sys.exit(run_worker(queue, processes, concurrency))


@cli.command()
def scheduler() -> None:
    """Send the scheduled jobs (refresh, vacuum, nightly rescore, cleanup); one scheduler is active at a time."""
    import logging

    from kith.tasks.scheduler import run_scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _run(run_scheduler())


@cli.command()
@click.option("--host", default=None)
@click.option("--port", default=None, type=int)
def demo(host: str | None, port: int | None) -> None:
    """Start Kith with demo data: check the port → database → migrate → seed the demo tenant → print its token → serve.

    The token is kept in the data folder and printed again by the next start (a new one only if it stopped working).
    """
    from kith.db.migrations import upgrade

    host, port = _listen_address(host, port)
    upgrade(_database_url())
    _run(_seed(DEMO_TENANT, "small", 1, only_if_empty=True))
    bearer = _run(_demo_token())
    base = f"http://{host}:{port}"
    _echo_err(f"Kith demo: tenant {DEMO_TENANT!r} ready.")
    _echo_err(f"  Web client: {base}/  (sign in with the token below)")
    _echo_err(f"  API docs:   {base}/schema")
    _echo_err(f"  Try:        curl -H 'Authorization: Bearer {bearer}' {base}/api/v1/contacts")
    click.echo(bearer)
    sys.stdout.flush()
    _serve(host, port, 1)


async def _demo_token() -> str:
    """The demo tenant's token from the last start when it is still valid on this database, else a new one (kept)."""
    from kith.auth.accounts import create_owner_token, token_is_live
    from kith.db.session import raw_connection

    path = get_settings().data_dir / DEMO_TOKEN_FILE
    kept = path.read_text().strip() if path.exists() else ""
    async with raw_connection(_database_url()) as conn:
        if kept and await token_is_live(conn, DEMO_TENANT, kept):
            return kept
        bearer = await create_owner_token(conn, DEMO_TENANT, "demo")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(bearer + "\n")
    return bearer


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        _echo_err("kith: aborted")
        sys.exit(130)
    except click.ClickException as exc:
        _echo_err(f"kith: error: {exc.format_message()}")
        sys.exit(exc.exit_code or 1)
    except Exception as exc:  # one line, never a traceback, for any failure
        _echo_err(f"kith: error: {_one_line(exc)}")
        sys.exit(1)


_UNDEFINED_TABLE = "42P01"


def _one_line(exc: Exception) -> str:
    """The error's first line; a database error as the database put it (SQLAlchemy adds the SQL below)."""
    cause = getattr(exc, "orig", None) or exc
    detail = (str(cause).strip().splitlines() or [""])[0]
    if getattr(cause, "sqlstate", None) == _UNDEFINED_TABLE:
        detail += " (run `kith migrate` first)"
    return f"{type(exc).__name__}: {detail}"
