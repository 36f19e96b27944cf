"""LinkedIn connections → ContactRecord: the `Connections.csv` export and the JSON push.

The export begins with a few "Notes:" lines before its header
`First Name,Last Name,URL,Email Address,Company,Position,Connected On`;
columns are found by name, so older exports without the notes, or with the
columns in another order, read the same. `Connected On` looks like `05 Mar 2024`.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import re
from collections.abc import AsyncIterator, Iterable
from typing import Any, BinaryIO, TextIO

import msgspec

from kith.identities import normalize_linkedin_url
from kith.sync.sources._common import (
    DEFAULT_BATCH_SIZE,
    Batcher,
    NewestFirstWindow,
    RecentKeys,
    check_batch_size,
    excerpt,
    normalize_email,
    one_line,
    record_error,
    text_stream,
)
from kith.sync.sources.records import ContactRecord, RecordError, SourceBatch, SourceFormatError

__all__ = [
    "LinkedInConnection",
    "normalize_linkedin_url",
    "parse_connected_on",
    "parse_linkedin_json",
    "read_linkedin_csv",
]

# Rows read looking for the header before deciding the file is no LinkedIn export.
_MAX_PREAMBLE_ROWS = 50
_MAX_FIELD_CHARS = 1 << 20
_COLUMNS = {
    "first name": "first_name",
    "last name": "last_name",
    "url": "url",
    "profile url": "url",
    "email address": "email_address",
    "company": "company",
    "position": "position",
    "connected on": "connected_on",
}
_MONTHS = {
    m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)
}
_DAY_MONTH_YEAR = re.compile(r"^(\d{1,2})[ -]([A-Za-z]{3,9})\.?[ -](\d{4})$")
_MONTH_DAY_YEAR = re.compile(r"^([A-Za-z]{3,9})\.? (\d{1,2}),? (\d{4})$")


class LinkedInConnection(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    """One connection of the JSON push (the CSV's columns, in snake_case)."""

    first_name: str | None = None
    last_name: str | None = None
    url: str | None = None
    email_address: str | None = None
    company: str | None = None
    position: str | None = None
    connected_on: str | None = None  # "05 Mar 2024" as in the export, or "2024-03-05"


def parse_connected_on(value: str | None) -> dt.date | None:
    """`05 Mar 2024` (the export's form), `Mar 5, 2024` or `2024-03-05`; None when empty; ValueError otherwise."""
    text = one_line(value)
    if not text:
        return None
    m = _DAY_MONTH_YEAR.match(text)
    if m and m.group(2)[:3].lower() in _MONTHS:
        return dt.date(int(m.group(3)), _MONTHS[m.group(2)[:3].lower()], int(m.group(1)))
    m = _MONTH_DAY_YEAR.match(text)
    if m and m.group(1)[:3].lower() in _MONTHS:
        return dt.date(int(m.group(3)), _MONTHS[m.group(1)[:3].lower()], int(m.group(2)))
    return dt.date.fromisoformat(text)


def _record(item: LinkedInConnection, index: int) -> ContactRecord | str:
    try:
        connected_on = parse_connected_on(item.connected_on)
    except ValueError:
        return f"unparseable Connected On date: {item.connected_on!r}"
    email = normalize_email(item.email_address)
    full_name = one_line(f"{item.first_name or ''} {item.last_name or ''}") or email
    if not full_name:
        return "connection has no name and no email"
    url = normalize_linkedin_url(item.url)
    return ContactRecord(
        full_name=full_name,
        emails=[email] if email else [],
        company=one_line(item.company) or None,
        title=one_line(item.position) or None,
        links=[url] if url else [],
        external_id=url,
        connected_on=connected_on,
        source_index=index,
    )


def _since_date(since: dt.datetime | dt.date | None) -> dt.date | None:
    if since is None:
        return None
    if isinstance(since, dt.datetime):
        if since.tzinfo is not None:
            since = since.astimezone(dt.UTC)
        return since.date()
    return since


def _is_header(row: list[str]) -> bool:
    names = {cell.strip().lstrip("\ufeff").lower() for cell in row}
    return {"first name", "last name"} <= names and ("url" in names or "profile url" in names)


async def read_linkedin_csv(
    stream: TextIO | BinaryIO,
    *,
    since: dt.datetime | dt.date | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> AsyncIterator[SourceBatch[ContactRecord]]:
    """Connections of a LinkedIn `Connections.csv`, in batches of at most `batch_size` rows.

    A text stream should be opened with `newline=""` (a binary stream is read
    as UTF-8). Raises SourceFormatError before yielding anything when no
    LinkedIn header is found among the first rows. Connections made before
    `since` (compared by date) are counted in `skipped`, and reading stops
    once the file, newest first as LinkedIn writes it, has passed `since`
    for good (see NewestFirstWindow); a row with a bad
    date, or neither name nor email, is a RecordError; a profile URL seen
    again is counted in `duplicates`.
    """
    check_batch_size(batch_size)
    text = text_stream(stream)
    try:
        async for batch in _read_csv(text, since=since, batch_size=batch_size):
            yield batch
    finally:
        if text is not stream:  # our wrapper around a binary stream: leave the caller's stream open
            text.detach()  # type: ignore[attr-defined]


async def _read_csv(
    text: TextIO, *, since: dt.datetime | dt.date | None, batch_size: int
) -> AsyncIterator[SourceBatch[ContactRecord]]:
    csv.field_size_limit(max(csv.field_size_limit(), _MAX_FIELD_CHARS))
    reader = csv.reader(text)
    columns: dict[int, str] | None = None
    try:
        for _ in range(_MAX_PREAMBLE_ROWS):
            row = next(reader, None)
            if row is None:
                break
            if _is_header(row):
                columns = {
                    i: _COLUMNS[name]
                    for i, cell in enumerate(row)
                    if (name := cell.strip().lstrip("\ufeff").lower()) in _COLUMNS
                }
                break
    except (csv.Error, UnicodeDecodeError) as exc:
        raise SourceFormatError(f"not a LinkedIn connections CSV: {exc}") from exc
    if columns is None:
        raise SourceFormatError(
            "not a LinkedIn connections CSV: no 'First Name,Last Name,URL,...' header in its first rows"
        )

    since_date = _since_date(since)
    window = NewestFirstWindow(since_date)
    batcher: Batcher[ContactRecord] = Batcher(batch_size)
    recent = RecentKeys()
    index = 0
    while True:
        try:
            row = next(reader, None)
        except csv.Error as exc:
            batcher.error(RecordError(source_index=index, reason=f"line {reader.line_num}: {exc}", excerpt=""))
            index += 1
            continue
        except UnicodeDecodeError as exc:  # a strict text stream: the rest cannot be read
            batcher.error(RecordError(source_index=index, reason=f"after line {reader.line_num}: {exc}", excerpt=""))
            break
        if row is None:
            break
        if not any(cell.strip() for cell in row):
            continue  # a blank line is no record
        fields = {columns[i]: cell for i, cell in enumerate(row) if i in columns}
        result = _record(LinkedInConnection(**fields), index)
        if isinstance(result, str):
            batcher.error(record_error(index, f"line {reader.line_num}: {result}", ",".join(row)))
        elif since_date is not None and result.connected_on is not None and result.connected_on < since_date:
            batcher.skip()
        elif result.external_id is not None and recent.seen(result.external_id):
            batcher.duplicate()
        else:
            batcher.record(result)
        index += 1
        if not isinstance(result, str) and window.passed(result.connected_on):
            break  # LinkedIn lists the newest connections first: the rest is older than the window
        if batcher.full:
            yield batcher.take()
            await asyncio.sleep(0)
    if batcher.count:
        yield batcher.take()


def parse_linkedin_json(
    items: Iterable[Any], *, since: dt.datetime | dt.date | None = None, start_index: int = 0
) -> SourceBatch[ContactRecord]:
    """Connections pushed as JSON objects (snake_case CSV columns), validated with msgspec.

    An item that is not an object, has a field of the wrong type, a bad
    date, or neither name nor email becomes a RecordError; nothing raises.
    Indexes count from `start_index`, so a caller cutting a large push into
    slices keeps them unique.
    """
    since_date = _since_date(since)
    batcher: Batcher[ContactRecord] = Batcher(1 << 62)
    recent = RecentKeys()
    for index, item in enumerate(items, start_index):
        try:
            connection = msgspec.convert(item, LinkedInConnection)
        except msgspec.ValidationError as exc:
            batcher.error(
                RecordError(source_index=index, reason=f"invalid connection: {exc}", excerpt=_json_excerpt(item))
            )
            continue
        result = _record(connection, index)
        if isinstance(result, str):
            batcher.error(RecordError(source_index=index, reason=result, excerpt=_json_excerpt(item)))
        elif since_date is not None and result.connected_on is not None and result.connected_on < since_date:
            batcher.skip()
        elif result.external_id is not None and recent.seen(result.external_id):
            batcher.duplicate()
        else:
            batcher.record(result)
    return batcher.take()


def _json_excerpt(item: Any) -> str:
    try:
        return excerpt(msgspec.json.encode(item).decode())
    except Exception:
        return excerpt(repr(item))
