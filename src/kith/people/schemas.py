from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec

from kith.contacts.schemas import FieldSource
from kith.pagination.page import Page


class Reason(msgspec.Struct):
    """Why the contacts may be one person: what they share (`email`, `phone`, `url`: the value itself;
    `name_company`: similar names at that company) and how sure that alone makes it."""

    kind: Literal["email", "phone", "url", "name_company"] | str
    value: str
    confidence: float


class Member(msgspec.Struct):
    id: int
    full_name: str


class DuplicateGroup(msgspec.Struct):
    id: int
    contact_ids: list[int]
    contacts: list[Member]
    reasons: list[Reason]
    confidence: float  # 0–1: the reasons combined as independent evidence
    found_at: dt.datetime


DuplicateGroupPage = Page[DuplicateGroup]


class AuditEvent(msgspec.Struct):
    id: int
    action: Literal["merge", "undo_merge", "dismiss_duplicates"]
    subject: dict[str, Any]
    token_id: int | None
    user_id: int | None
    created_at: dt.datetime


AuditPage = Page[AuditEvent]


class MergeRequest(msgspec.Struct, forbid_unknown_fields=True):
    survivor_id: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
    merge_ids: Annotated[
        list[Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]], msgspec.Meta(min_length=1, max_length=50)
    ]
    dry_run: bool = False


class MergedValue(msgspec.Struct):
    """One value of the merged card: the field, the value, the contact it comes from and where that contact
    had it from (null: no provenance recorded). A set field (emails, phones, tags, links) has one per value."""

    field: str
    value: Any
    contact_id: int
    source: FieldSource | None


class MergeResult(msgspec.Struct):
    merge_id: str | None  # null for a dry run: nothing was merged
    dry_run: bool
    survivor_id: int
    merge_ids: list[int]
    card: list[MergedValue]
    messages_moved: int


class UndoResult(msgspec.Struct):
    merge_id: str
    survivor_id: int
    restored_ids: list[int]
    # Fields of the survivor the user edited after the merge: kept as edited, not restored.
    kept_fields: list[str]
