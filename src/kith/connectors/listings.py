"""The connections listing, declared: the tenant's connections, newest first, without their tokens."""

from __future__ import annotations

import datetime as dt

from kith.connectors import queries
from kith.connectors.schemas import Connection
from kith.pagination.listing import Listing, Sort

CONNECTIONS = Listing(
    name="connections",
    item=Connection,
    # A base table (fresh by nature, no as_of), read through its listed columns only: tokens never leave it.
    source=queries.CONNECTION_ROWS,
    sorts={"created": Sort(("created_at", "id"), (dt.datetime, int), descending=True)},  # ix_connections_tenant_created
)
