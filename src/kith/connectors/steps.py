"""What a connector source yields: a step of the sync, landed in one transaction with its checkpoint."""

from __future__ import annotations

from typing import Any, NamedTuple

from kith.sync.sources import SourceBatch


class Step(NamedTuple):
    """A bounded piece of a sync: records to write, ids deleted at the provider, and where to resume.

    The runner lands `people` (contact records the batch's messages find their contacts by), then `batch`,
    applies `deleted` and stores `checkpoint` (under the source's key of
    connections.checkpoint) in one transaction, so a sync killed between steps resumes after the last
    one landed and writes nothing twice. `note` is said on the run (a fallback to a full sync).
    """

    batch: SourceBatch | None
    checkpoint: dict[str, Any]
    deleted: list[str] = []
    note: str | None = None
    people: SourceBatch | None = None
