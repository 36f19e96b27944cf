"""`kith plan list|create|set` and `kith tenant set-plan`: plans without SQL, heard by a running API at once."""

from __future__ import annotations

import json
from pathlib import Path

from litestar.testing import AsyncTestClient
from tests.cli.test_cli import kith, one_line_error
from tests.limits.conftest import eventually

from kith.app import create_app

CONTACTS = "/api/v1/contacts"


async def test_plans_are_created_changed_and_listed(db: str, tmp_path: Path, conn) -> None:
    created = kith(
        "plan",
        "create",
        "loadtest",
        "--requests-per-minute",
        "1000000",
        "--connector",
        "vcard",
        "--connector",
        "rss",
        db=db,
        data_dir=tmp_path,
    )
    assert created.returncode == 0, created.stderr
    plan_id = int(created.stdout)

    row = await conn.fetchrow("SELECT * FROM plans WHERE id = $1", plan_id)
    default = await conn.fetchrow("SELECT * FROM plans WHERE is_default")
    assert (row["name"], row["requests_per_minute"], row["connectors"]) == ("loadtest", 1_000_000, ["vcard", "rss"])
    # What it does not set comes from the default plan.
    assert row["max_upload_bytes"] == default["max_upload_bytes"]
    assert row["max_queued_runs"] == default["max_queued_runs"]

    changed = kith("plan", "set", "loadtest", "--max-contacts", "10", db=db, data_dir=tmp_path)
    assert (changed.returncode, changed.stdout.strip()) == (0, str(plan_id)), changed.stderr
    assert await conn.fetchval("SELECT max_contacts FROM plans WHERE id = $1", plan_id) == 10
    lifted = kith("plan", "set", "loadtest", "--no-contact-limit", db=db, data_dir=tmp_path)
    assert lifted.returncode == 0, lifted.stderr
    assert await conn.fetchval("SELECT max_contacts FROM plans WHERE id = $1", plan_id) is None

    listed = kith("plan", "list", db=db, data_dir=tmp_path)
    plans = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [p["name"] for p in plans] == ["default", "loadtest"]
    assert plans[1]["requests_per_minute"] == 1_000_000 and plans[1]["tenants"] == 0


async def test_mistakes_are_one_line_errors_that_change_nothing(db: str, tmp_path: Path, conn) -> None:
    kith("tenant", "create", "acme", db=db, data_dir=tmp_path)
    assert "exists already" in one_line_error(kith("plan", "create", "default", db=db, data_dir=tmp_path))
    assert "no plan named 'gold'" in one_line_error(
        kith("plan", "set", "gold", "--max-contacts", "5", db=db, data_dir=tmp_path)
    )
    assert "nothing to change" in one_line_error(kith("plan", "set", "default", db=db, data_dir=tmp_path))
    assert "no plan named 'gold'" in one_line_error(
        kith("tenant", "set-plan", "acme", "gold", db=db, data_dir=tmp_path)
    )
    assert "no tenant named 'nobody'" in one_line_error(
        kith("tenant", "set-plan", "nobody", "default", db=db, data_dir=tmp_path)
    )
    bad = kith("plan", "create", "zero", "--requests-per-minute", "0", db=db, data_dir=tmp_path)
    assert bad.returncode != 0
    assert await conn.fetchval("SELECT count(*) FROM plans") == 1
    assert await conn.fetchval("SELECT plan_id FROM tenants WHERE name = 'acme'") is None


async def test_a_running_api_hears_a_plan_change_made_from_the_cli(db: str, tmp_path: Path, make_tenant) -> None:
    tenant = await make_tenant("acme")
    async with AsyncTestClient(app=create_app(db)) as client:
        assert (await client.get(CONTACTS, headers=tenant.headers)).headers["ratelimit-limit"] == "600"

        assert (
            kith("plan", "create", "loadtest", "--requests-per-minute", "90000", db=db, data_dir=tmp_path).returncode
            == 0
        )
        moved = kith("tenant", "set-plan", "acme", "loadtest", db=db, data_dir=tmp_path)
        assert moved.returncode == 0, moved.stderr

        async def limit_is(value: str) -> bool:
            return (await client.get(CONTACTS, headers=tenant.headers)).headers["ratelimit-limit"] == value

        async def on_new_plan() -> bool:
            return await limit_is("90000")

        async def on_changed_plan() -> bool:
            return await limit_is("80000")

        await eventually(on_new_plan)
        assert (
            kith("plan", "set", "loadtest", "--requests-per-minute", "80000", db=db, data_dir=tmp_path).returncode == 0
        )
        await eventually(on_changed_plan)
