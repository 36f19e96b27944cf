"""Merging contacts into one, with a dry run first and an undo after.

The merged card takes, per field, the value with the best provenance among the survivor and the merged
contacts (the user's own first, then the field's precedence of sources, then the survivor, then the order
of `merge_ids`); sets are the union, the survivor's values first. A merge moves the merged contacts'
messages, conversations and keys to the survivor, retires them (soft delete), rescores the survivor and
marks every row it changed for the read models, in one transaction; it keeps the rows as they were (a
snapshot), so an undo within KITH_MERGE_UNDO_DAYS restores them exactly (scores as they were at the merge;
only `changed_at` is new, so the read models show them at once).

An undo after edits: a field of the survivor the user edited through the API after the merge keeps the
edit (the user's newer word); every other field returns to its value before the merge. Messages that
reached the survivor after the merge stay with it; those the merge moved go back.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
from litestar.status_codes import HTTP_409_CONFLICT
from sqlalchemy.ext.asyncio import AsyncSession

from kith.auth.principal import Principal
from kith.config import get_settings
from kith.contacts.schemas import FieldSource
from kith.identities import SCALAR_FIELDS, SET_FIELDS, UNRANKED, USER, field_ranks
from kith.people import queries
from kith.people.schemas import MergedValue, MergeRequest, MergeResult, UndoResult
from kith.people.service import record_audit
from kith.problems import bad_request, not_found, problem
from kith.scoring.service import rescore_contact

# The columns of each scalar provenance field.
_COLUMNS = {"birthday": ("birthday_month", "birthday_day", "birthday_year")}


def _columns(field: str) -> tuple[str, ...]:
    return _COLUMNS.get(field, (field,))


def _rank(entry: dict[str, Any] | None, field: str, position: int, ranks: dict[str, dict[str, int]]) -> tuple:
    """Lower is better: the user's values, then by the field's precedence of sources, then by contact order."""
    if entry is None:
        return (2, UNRANKED, position)
    if entry.get("source") == USER:
        return (0, 0, position)
    return (1, ranks[field].get(entry["source"], UNRANKED), position)


def merged_card(rows: list[dict[str, Any]]) -> tuple[dict[str, Any], list[MergedValue]]:
    """The survivor's (rows[0]) new columns and, value by value, where each comes from."""
    ranks = field_ranks(get_settings().sync.field_precedence)
    survivor = rows[0]
    columns: dict[str, Any] = {}
    provenance: dict[str, Any] = dict(survivor["provenance"])
    card: list[MergedValue] = []
    for field in SCALAR_FIELDS:
        offers = [
            (_rank(row["provenance"].get(field), field, position, ranks), row)
            for position, row in enumerate(rows)
            if row[_columns(field)[0]] is not None
        ]
        if not offers:
            continue
        _, best = min(offers, key=lambda offer: offer[0])
        for column in _columns(field):
            columns[column] = best[column]
        entry = best["provenance"].get(field)
        provenance[field] = entry
        value = [best[c] for c in _columns(field)] if field == "birthday" else best[field]
        card.append(MergedValue(field, value, best["id"], _source(entry)))
    for field in SET_FIELDS:
        values: dict[str, tuple[tuple, dict[str, Any]]] = {}
        for position, row in enumerate(rows):
            for value in row[field]:
                rank = _rank(row["provenance"].get(field, {}).get(value), field, position, ranks)
                if value not in values or rank < values[value][0]:
                    values[value] = (rank, row)
        columns[field] = list(values)
        entries = {v: e for row in rows for v, e in row["provenance"].get(field, {}).items() if e.get("removed")}
        for value, (_, row) in values.items():
            entry = row["provenance"].get(field, {}).get(value)
            if entry is not None:
                entries[value] = entry
            card.append(MergedValue(field, value, row["id"], _source(entry)))
        provenance[field] = entries
    columns["cadence_days"] = next((r["cadence_days"] for r in rows if r["cadence_days"] is not None), None)
    columns["external_ids"] = {k: v for row in reversed(rows) for k, v in row["external_ids"].items()}
    columns["identities"] = list(dict.fromkeys(i for row in rows for i in row["identities"]))
    columns["provenance"] = {k: v for k, v in provenance.items() if v is not None}
    return columns, card


def _source(entry: dict[str, Any] | None) -> FieldSource | None:
    return None if entry is None else msgspec.convert(entry, FieldSource, strict=False)


async def _locked_rows(session: AsyncSession, tenant_id: int, ids: list[int]) -> list[dict[str, Any]]:
    rows = (await session.execute(queries.LOCK_CONTACTS, {"tenant_id": tenant_id, "ids": ids})).scalars().all()
    found = {row["id"] for row in rows}
    if missing := [i for i in ids if i not in found]:
        raise not_found(f"No contact {missing[0]}")
    return list(rows)


async def merge(session: AsyncSession, principal: Principal, request: MergeRequest) -> MergeResult:
    ids = [request.survivor_id, *request.merge_ids]
    if len(set(ids)) != len(ids):
        raise bad_request("survivor_id and merge_ids name each contact once", field="merge_ids")
    tenant_id = principal.tenant_id
    rows = await _locked_rows(session, tenant_id, ids)
    columns, card = merged_card(rows)
    params = {"tenant_id": tenant_id, "ids": request.merge_ids, "survivor_id": request.survivor_id}
    if request.dry_run:
        moving = (await session.execute(queries.COUNT_MESSAGES, params)).scalar_one()
        return MergeResult(None, True, request.survivor_id, request.merge_ids, card, moving)
    moved = (await session.execute(queries.MOVE_TO_SURVIVOR, params)).one()
    await session.execute(queries.UPDATE_SURVIVOR, {**params, "card": msgspec.json.encode(columns).decode()})
    await rescore_contact(session, tenant_id, request.survivor_id)
    merge_id = str(uuid.uuid4())
    snapshot = {
        "contacts": rows,
        "messages": moved.messages,
        "conversations": moved.conversations,
        "keys": moved.keys,
        "participants_removed": moved.participants_removed,
        "participants_added": moved.participants_added,
    }
    await session.execute(
        queries.RECORD_MERGE,
        {**params, "id": merge_id, "snapshot": msgspec.json.encode(snapshot).decode(), "token_id": principal.token_id},
    )
    subject = {"merge_id": merge_id, "survivor_id": request.survivor_id, "merge_ids": request.merge_ids}
    await record_audit(session, principal, "merge", subject)
    return MergeResult(merge_id, False, request.survivor_id, request.merge_ids, card, len(moved.messages))


def _edited_after(current: dict[str, Any], merged_at: dt.datetime) -> list[str]:
    """The survivor's fields the user set through the API after the merge."""

    def after(entry: dict[str, Any] | None) -> bool:
        return bool(entry) and entry.get("source") == USER and dt.datetime.fromisoformat(entry["at"]) > merged_at

    provenance = current["provenance"]
    edited = [f for f in SCALAR_FIELDS if after(provenance.get(f))]
    edited += [f for f in SET_FIELDS if any(after(e) for e in provenance.get(f, {}).values())]
    return edited


async def undo(session: AsyncSession, principal: Principal, merge_id: uuid.UUID) -> UndoResult:
    tenant_id = principal.tenant_id
    window = get_settings().sync.merge_undo_days * 86400
    merge_row = (
        await session.execute(queries.LOCK_MERGE, {"tenant_id": tenant_id, "id": merge_id, "window": window})
    ).first()
    if merge_row is None:
        raise not_found(f"No merge {merge_id}")
    if merge_row.undone_at is not None:
        raise problem(HTTP_409_CONFLICT, "Conflict", "this merge was undone already")
    if not merge_row.undoable:
        raise problem(HTTP_409_CONFLICT, "Conflict", "this merge is past its undo window (KITH_MERGE_UNDO_DAYS)")
    snapshot = merge_row.snapshot
    before = snapshot["contacts"]
    survivor_id = merge_row.survivor_id
    (current,) = await _locked_rows(session, tenant_id, [survivor_id])
    kept = _edited_after(current, merge_row.created_at)
    survivor_before = dict(before[0])
    for field in kept:
        for column in _columns(field):
            survivor_before[column] = current[column]
        survivor_before["provenance"] = {**survivor_before["provenance"], field: current["provenance"][field]}
    rows = [survivor_before, *before[1:]]
    params = {"tenant_id": tenant_id, "survivor_id": survivor_id}
    await session.execute(queries.RESTORE_CONTACTS, {**params, "rows": msgspec.json.encode(rows).decode()})
    await session.execute(
        queries.MOVE_BACK,
        {
            **params,
            # A merge made before message_participants (migration 0026) has no participant rows to put back.
            **{
                k: msgspec.json.encode(snapshot.get(k, [])).decode()
                for k in ("messages", "conversations", "keys", "participants_removed", "participants_added")
            },
        },
    )
    await session.execute(queries.MARK_UNDONE, {"tenant_id": tenant_id, "id": merge_id})
    restored = [row["id"] for row in before[1:]]
    await record_audit(session, principal, "undo_merge", {"merge_id": str(merge_id), "survivor_id": survivor_id})
    return UndoResult(str(merge_id), survivor_id, restored, kept)
