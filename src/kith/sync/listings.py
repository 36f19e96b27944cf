"""The sync-run listing, declared: the tenant's runs from the base table, newest first."""

from __future__ import annotations

import datetime as dt

from kith.pagination.listing import Listing, Sort
from kith.sync.schemas import SyncRun

SYNC_RUNS = Listing(
    name="sync.runs",
    item=SyncRun,
    source="sync_runs",  # a base table: fresh by nature, no as_of
    sorts={"created": Sort(("created_at", "id"), (dt.datetime, int), descending=True)},  # ix_sync_runs_tenant_created
)
