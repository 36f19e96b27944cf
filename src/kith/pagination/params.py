"""Request parameters every listing and resource shares."""

from __future__ import annotations

from typing import Annotated

from litestar.params import Parameter

from kith.pagination.cursor import MAX_CURSOR_LENGTH
from kith.pagination.page import MAX_LIMIT

Limit = Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description="Rows per page (1–200, default 50).")]
Cursor = Annotated[
    str | None,
    Parameter(min_length=1, max_length=MAX_CURSOR_LENGTH, description="Opaque cursor from a previous page."),
]
# Ids are bigint: anything outside is a 400, not a driver error.
ResourceId = Annotated[int, Parameter(ge=1, le=2**63 - 1)]
