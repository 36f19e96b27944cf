"""The `kith` command. Machine-readable output (a token, an id) alone on stdout; progress and errors on stderr."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import sys
from pathlib import Path

import click

from kith.config import get_settings

DEMO_TENANT = "demo"


def _echo_err(message: str) -> None:
    click.echo(message, err=True)


@click.group()
def cli() -> None:
    """Kith: the backend of a relationship app."""


@cli.command()
@click.option("--host", default=None, help="Interface to bind (default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default 8000).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
def serve(host: str | None, port: int | None, workers: int) -> None:
    """Serve the API."""
    _serve(host, port, workers)


def _serve(host: str | None, port: int | None, workers: int) -> None:
    import uvicorn

    from kith.db.engine import database_url

    settings = get_settings()
    # Resolve (and, if embedded, start) the database once here; worker processes inherit the URL.
    os.environ["DATABASE_URL"] = database_url()
    metrics_dir = None
    if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Each worker process writes its metrics here; /metrics (in any of them) adds them up.
        metrics_dir = settings.data_dir / "metrics" / str(os.getpid())
        metrics_dir.mkdir(parents=True, exist_ok=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    try:
        uvicorn.run(
            "kith.app:create_app",
            factory=True,
            host=host or settings.host,
            port=port or settings.port,
            workers=workers,
            log_level="info",
            access_log=False,  # a log line per request costs more than the request itself
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


@cli.command()
def migrate() -> None:
    """Apply database migrations up to head."""
    from kith.db.engine import database_url
    from kith.db.migrations import head_revision, upgrade

    upgrade(database_url())
    click.echo(head_revision())


@cli.group()
def tenant() -> None:
    """Tenants."""


@tenant.command("create")
@click.argument("name")
@click.option("--time-zone", default="UTC", show_default=True)
def tenant_create(name: str, time_zone: str) -> None:
    """Create a tenant (and its owner user); print its id."""
    from kith.auth.service import get_or_create_owner, get_or_create_tenant
    from kith.db.session import standalone_session

    async def run() -> int:
        async with standalone_session() as session:
            row = await get_or_create_tenant(session, name, time_zone)
            await get_or_create_owner(session, row)
            return row.id

    click.echo(asyncio.run(run()))


@cli.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.option("--tenant", "tenant_name", required=True)
@click.option("--name", "token_name", default=None, help="A label for the token.")
def token_create(tenant_name: str, token_name: str | None) -> None:
    """Create a bearer token for the tenant's owner; print it (only its hash is stored)."""
    click.echo(asyncio.run(_create_token(tenant_name, token_name)))


async def _create_token(tenant_name: str, token_name: str | None = None) -> str:
    from kith.auth.service import create_token
    from kith.db.session import standalone_session

    async with standalone_session() as session:
        return await create_token(session, tenant_name, token_name)


@cli.command()
@click.option("--tenant", "tenant_name", required=True)
@click.option("--size", type=click.Choice(["small", "medium", "large"]), default="small", show_default=True)
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed ⇒ same rows.")
def seed(tenant_name: str, size: str, seed: int) -> None:
    """Fill a tenant with synthetic data; print the tenant id."""
    click.echo(asyncio.run(_seed(tenant_name, size, seed)))


async def _seed(tenant_name: str, size: str, seed_value: int, *, only_if_empty: bool = False) -> int:
    from sqlalchemy import func, select

    from kith.auth.service import get_or_create_owner, get_or_create_tenant
    from kith.db.session import raw_connection, standalone_session
    from kith.models import Contact
    from kith.seed.generator import seed_tenant

    async with standalone_session() as session:
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
    """Score the new contacts (one set-based pass), then bring the read models up to date."""
    import time

    from kith.db.session import standalone_engine
    from kith.readmodels.refresh import refresh_all
    from kith.scoring.service import rescore_tenant

    async with standalone_engine() as engine:
        started = time.perf_counter()
        scored = await rescore_tenant(engine, tenant_id)
        _echo_err(f"scored {scored:,} contacts in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    await refresh_all()
    _echo_err(f"refreshed the read models in {time.perf_counter() - started:.1f} s")


@cli.command("import")
@click.option("--tenant", "tenant_name", required=True)
@click.option("--source", type=click.Choice(["vcard", "mbox", "linkedin", "rss"]), required=True)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    default=None,
    help="Import only what is dated from then on (UTC).",
)
@click.option(
    "--me", "own_addresses", multiple=True, help="Your own address (mbox; repeatable): mail from it is outgoing."
)
def import_(
    tenant_name: str, source: str, file: Path, since: dt.datetime | None, own_addresses: tuple[str, ...]
) -> None:
    """Import a file through the sync pipeline (then score and refresh); print the sync run id."""
    click.echo(asyncio.run(_import(tenant_name, source, file, since, list(own_addresses))))


async def _import(
    tenant_name: str, source: str, file: Path, since: dt.datetime | None, own_addresses: list[str]
) -> int:
    from kith.auth.service import get_or_create_owner, get_or_create_tenant
    from kith.db.session import standalone_engine, standalone_session
    from kith.sync.service import import_file
    from kith.sync.sources import SourceFormatError

    async with standalone_session() as session:
        tenant_row = await get_or_create_tenant(session, tenant_name)
        tenant_id, user_id = tenant_row.id, (await get_or_create_owner(session, tenant_row)).id
    size = max(file.stat().st_size, 1)
    try:
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
                    since=since and since.replace(tzinfo=dt.UTC),
                    own_addresses=own_addresses,
                    json=file.suffix.lower() == ".json",
                    progress=progress,
                )
    except SourceFormatError as exc:
        raise click.ClickException(f"{file} is not a valid {source} file: {exc}") from None
    _echo_err(
        f"\n{file.name}: {run.status}: {run.rows_seen} seen, {run.rows_inserted} inserted, {run.rows_updated} updated, "
        f"{run.rows_skipped} skipped, {run.rows_failed} failed"
    )
    if run.status != "succeeded":
        raise click.ClickException(f"sync run {run.id} failed: {run.error}")
    return run.id


@cli.command()
@click.argument("view", required=False)
def refresh(view: str | None) -> None:
    """Refresh one read model (or all) now; print each view refreshed."""
    from kith.readmodels.refresh import refresh_all
    from kith.readmodels.views import VIEWS

    if view is not None and view not in VIEWS:
        raise click.ClickException(f"no view named {view!r}; views: {', '.join(VIEWS)}")
    for outcome in asyncio.run(refresh_all(views=(view,) if view else VIEWS)):
        click.echo(outcome.view_name)


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
    asyncio.run(run_scheduler())


@cli.command()
@click.option("--host", default=None)
@click.option("--port", default=None, type=int)
def demo(host: str | None, port: int | None) -> None:
    """Start Kith with demo data: database → migrate → seed the demo tenant → print a token → serve."""
    from kith.db.engine import database_url
    from kith.db.migrations import upgrade

    settings = get_settings()
    url = database_url()
    upgrade(url)
    asyncio.run(_seed(DEMO_TENANT, "small", 1, only_if_empty=True))
    bearer = asyncio.run(_create_token(DEMO_TENANT, "demo"))
    base = f"http://{host or settings.host}:{port or settings.port}"
    _echo_err(f"Kith demo: tenant {DEMO_TENANT!r} ready.")
    _echo_err(f"  API docs:  {base}/schema")
    _echo_err(f"  Try:       curl -H 'Authorization: Bearer {bearer}' {base}/api/v1/contacts")
    click.echo(bearer)
    sys.stdout.flush()
    _serve(host, port, 1)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
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
