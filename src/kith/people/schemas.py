from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import msgspec

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
    action: Literal["merge", "undo_merge", "dismiss_duplicates"] | str
    subject: dict[str, Any]
    token_id: int | None
    user_id: int | None
    created_at: dt.datetime


AuditPage = Page[AuditEvent]
