"""Address book CSV exports → ContactRecord: Google Contacts (both of its header layouts) and Outlook.

The layout is told by the header row, read by column name (any order):

- Google Contacts, current layout: `First Name, Middle Name, Last Name, …, Nickname, Organization Name,
  Organization Title, Organization Department, Birthday, Notes, Labels, E-mail 1 - Label, E-mail 1 - Value,
  Phone 1 - …, Address 1 - …, Relation 1 - …, Website 1 - …`;
- Google Contacts, the older "Google CSV": `Name, Given Name, Additional Name, Family Name, …, Group Membership,
  E-mail 1 - Type, E-mail 1 - Value, …, Organization 1 - Name, Organization 1 - Title, …`;
- Outlook: `First Name, Middle Name, Last Name, Title, …, E-mail Address, E-mail 2 Address, …, Mobile Phone,
  Job Title, Department, Company, Business Street, …, Spouse, Birthday, Notes`.

Google puts several values in one cell with ` ::: ` between them. A non-empty cell of a column Kith has no
place for is counted in `dropped` by its column name, so the run says what was left out. A row with neither
a name, an email nor a phone is a RecordError.
"""

from __future__ import annotations

import asyncio
import csv
import re
from collections.abc import AsyncIterator, Callable
from typing import BinaryIO, TextIO

from kith.sync.sources._common import (
    DEFAULT_BATCH_SIZE,
    Batcher,
    check_batch_size,
    normalize_email,
    one_line,
    record_error,
    text_stream,
    unique,
    unique_links,
)
from kith.sync.sources.records import (
    ContactRecord,
    PostalAddress,
    RecordError,
    RelatedPerson,
    SourceBatch,
    SourceFormatError,
)

__all__ = ["LAYOUTS", "read_contacts_csv"]

LAYOUTS = ("Google Contacts CSV", "Google Contacts CSV (older layout)", "Outlook CSV")
_MAX_FIELD_CHARS = 1 << 20
_MULTI = " ::: "
_NUMBERED = re.compile(r"^(e-mail|phone|address|relation|website|organization|im|event|custom field) (\d+) - (.+)$")
_GOOGLE_BIRTHDAY = re.compile(r"^(?:(\d{4})|-)-(\d{1,2})-(\d{1,2})$")
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2,4})$")
# Google's own groups ("* myContacts", "* starred"): not tags anyone chose.
_SYSTEM_LABEL = "* "
_ADDRESS_PARTS = {
    "street": "street",
    "city": "locality",
    "po box": "po_box",
    "region": "region",
    "postal code": "postal_code",
    "country": "country",
    "extended address": "extended",
}
_OUTLOOK_ADDRESS_PARTS = {
    "street": "street",
    "city": "locality",
    "po box": "po_box",
    "state": "region",
    "postal code": "postal_code",
    "country/region": "country",
}
_OUTLOOK_EMAILS = ("e-mail address", "e-mail 2 address", "e-mail 3 address")
_OUTLOOK_PHONES = (
    "mobile phone",
    "business phone",
    "business phone 2",
    "home phone",
    "home phone 2",
    "primary phone",
    "other phone",
    "company main phone",
    "car phone",
)
_OUTLOOK_RELATED = {"spouse": "spouse", "manager's name": "manager", "assistant's name": "assistant"}
_OUTLOOK_USED = {
    "first name",
    "middle name",
    "last name",
    "nickname",
    "job title",
    "department",
    "company",
    "birthday",
    "notes",
    "web page",
    "personal web page",
    "categories",
    *_OUTLOOK_EMAILS,
    *_OUTLOOK_PHONES,
    *_OUTLOOK_RELATED,
    *(f"{kind} {part}" for kind in ("business", "home", "other") for part in _OUTLOOK_ADDRESS_PARTS),
    # Outlook fills these with its own defaults ("Normal", "Unspecified"), not the user's data.
    "sensitivity",
    "priority",
    "gender",
    "private",
}
_GOOGLE_USED = {
    "name",
    "given name",
    "additional name",
    "family name",
    "first name",
    "middle name",
    "last name",
    "nickname",
    "birthday",
    "notes",
    "group membership",
    "labels",
    "organization name",
    "organization title",
    "organization department",
}

Row = dict[str, str]


def _layout(header: set[str]) -> str | None:
    if {"given name", "family name", "group membership"} <= header:
        return LAYOUTS[1]
    if {"first name", "last name"} <= header and ("labels" in header or "organization name" in header):
        return LAYOUTS[0]
    if {"first name", "last name", "e-mail address"} <= header and ("job title" in header or "mobile phone" in header):
        return LAYOUTS[2]
    return None


def _values(cell: str | None) -> list[str]:
    return [v for part in (cell or "").split(_MULTI) if (v := one_line(part))]


def _birthday(value: str) -> tuple[int, int, int | None] | None:
    text = value.strip()
    if m := _GOOGLE_BIRTHDAY.match(text):
        year, month, day = m.groups()
    elif m := _US_DATE.match(text):  # Outlook: M/D/YYYY ("0/0/00": none)
        month, day, year = m.groups()
        year = year if len(year) == 4 else None
    else:
        return None
    month_n, day_n = int(month), int(day)
    if not (1 <= month_n <= 12 and 1 <= day_n <= 31):
        return None
    year_n = int(year) if year and int(year) not in (0, 1604) else None
    return month_n, day_n, year_n


def _numbered(row: Row) -> dict[tuple[str, str], dict[str, str]]:
    """Google's numbered groups of columns, `E-mail 2 - Value` → {("e-mail", "2"): {"value": …}}."""
    groups: dict[tuple[str, str], dict[str, str]] = {}
    for name, cell in row.items():
        if cell and (m := _NUMBERED.match(name)):
            groups.setdefault((m.group(1), m.group(2)), {})[m.group(3)] = cell
    return groups


def _label(group: dict[str, str]) -> str | None:
    label = one_line(group.get("label") or group.get("type") or "").removeprefix(_SYSTEM_LABEL)
    return label.lower() if label in ("Home", "Work", "Other", "Mobile") else (label or None)


def _google(row: Row) -> ContactRecord | str:
    groups = _numbered(row)
    emails, phones, links, addresses, related = [], [], [], [], []
    company = title = department = None
    for (kind, _), group in sorted(groups.items(), key=lambda item: (item[0][0], int(item[0][1]))):
        if kind == "e-mail":
            emails += [e for v in _values(group.get("value")) if (e := normalize_email(v))]
        elif kind == "phone":
            phones += _values(group.get("value"))
        elif kind == "website":
            links += _values(group.get("value"))
        elif kind == "relation":
            related += [RelatedPerson(name=v, relation=_label(group)) for v in _values(group.get("value"))]
        elif kind == "address":
            parts = {_ADDRESS_PARTS[k]: one_line(v) for k, v in group.items() if k in _ADDRESS_PARTS and one_line(v)}
            if parts:
                addresses.append(PostalAddress(label=_label(group), **parts))
        elif kind == "organization" and company is None:
            company, title = one_line(group.get("name")) or None, one_line(group.get("title")) or None
            department = one_line(group.get("department")) or None
    given = row.get("given name") or row.get("first name")
    middle = row.get("additional name") or row.get("middle name")
    family = row.get("family name") or row.get("last name")
    composed = one_line(" ".join(p for p in (given, middle, family) if p))
    labels = _values(row.get("group membership") or row.get("labels"))
    return _record(
        row,
        full_name=one_line(row.get("name")) or composed,
        emails=emails,
        phones=phones,
        company=company or one_line(row.get("organization name")) or None,
        title=title or one_line(row.get("organization title")) or None,
        department=department or one_line(row.get("organization department")) or None,
        tags=[t for t in labels if not t.startswith(_SYSTEM_LABEL)],
        links=links,
        addresses=addresses,
        related=related,
    )


def _outlook(row: Row) -> ContactRecord | str:
    addresses = []
    for kind in ("home", "business", "other"):
        parts = {
            field: one_line(row.get(f"{kind} {part}"))
            for part, field in _OUTLOOK_ADDRESS_PARTS.items()
            if one_line(row.get(f"{kind} {part}"))
        }
        if parts:
            addresses.append(PostalAddress(label="work" if kind == "business" else kind, **parts))
    composed = one_line(" ".join(row.get(c) or "" for c in ("first name", "middle name", "last name")))
    return _record(
        row,
        full_name=composed,
        emails=[e for c in _OUTLOOK_EMAILS if (e := normalize_email(row.get(c)))],
        phones=[p for c in _OUTLOOK_PHONES if (p := one_line(row.get(c)))],
        company=one_line(row.get("company")) or None,
        title=one_line(row.get("job title")) or None,
        department=one_line(row.get("department")) or None,
        tags=[t for t in (one_line(x) for x in (row.get("categories") or "").split(";")) if t],
        links=[link for c in ("web page", "personal web page") if (link := one_line(row.get(c)))],
        addresses=addresses,
        related=[
            RelatedPerson(name=name, relation=relation)
            for column, relation in _OUTLOOK_RELATED.items()
            if (name := one_line(row.get(column)))
        ],
    )


def _record(row: Row, *, full_name: str, emails: list[str], phones: list[str], **fields) -> ContactRecord | str:
    emails, phones = unique(emails), unique(phones)
    nickname = one_line(row.get("nickname")) or None
    name = full_name or nickname or fields["company"] or (emails[0] if emails else None)
    name = name or (phones[0] if phones else None)
    if not name:
        return "row has no name, company, email or phone"
    birthday = _birthday(row.get("birthday") or "")
    notes = (row.get("notes") or "").replace("\r\n", "\n").strip() or None
    return ContactRecord(
        full_name=name,
        nickname=nickname,
        emails=emails,
        phones=phones,
        notes=notes,
        birthday_month=birthday[0] if birthday else None,
        birthday_day=birthday[1] if birthday else None,
        birthday_year=birthday[2] if birthday else None,
        links=unique_links(fields.pop("links")),
        tags=unique(fields.pop("tags")),
        source_index=-1,
        **fields,
    )


_READERS: dict[str, tuple[Callable[[Row], ContactRecord | str], Callable[[str], bool]]] = {
    LAYOUTS[0]: (_google, lambda name: name in _GOOGLE_USED or bool(_NUMBERED.match(name))),
    LAYOUTS[1]: (_google, lambda name: name in _GOOGLE_USED or bool(_NUMBERED.match(name))),
    LAYOUTS[2]: (_outlook, lambda name: name in _OUTLOOK_USED),
}


async def read_contacts_csv(
    stream: TextIO | BinaryIO, *, batch_size: int = DEFAULT_BATCH_SIZE
) -> AsyncIterator[SourceBatch[ContactRecord]]:
    """Contacts of a Google Contacts or Outlook CSV export, in batches of at most `batch_size` rows.

    Raises SourceFormatError, naming the formats read, before yielding anything when the header row is
    none of them. An empty file yields nothing.
    """
    check_batch_size(batch_size)
    text = text_stream(stream)
    try:
        async for batch in _read(text, batch_size):
            yield batch
    finally:
        if text is not stream:
            text.detach()  # type: ignore[attr-defined]


async def _read(text: TextIO, batch_size: int) -> AsyncIterator[SourceBatch[ContactRecord]]:
    csv.field_size_limit(max(csv.field_size_limit(), _MAX_FIELD_CHARS))
    reader = csv.reader(text)
    try:
        header_row = next(reader, None)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise SourceFormatError(f"not a CSV file: {exc}") from exc
    if header_row is None:
        return
    header = [cell.strip().lstrip("\ufeff").lower() for cell in header_row]
    layout = _layout(set(header))
    if layout is None:
        shown = ",".join(header_row[:4])[:80]
        raise SourceFormatError(f"the header ({shown!r}…) is none of: {', '.join(LAYOUTS)}")
    to_record, used = _READERS[layout]
    unused = {i: header_row[i].strip().lstrip("\ufeff") for i, name in enumerate(header) if not used(name)}
    batcher: Batcher[ContactRecord] = Batcher(batch_size)
    index = 0
    while True:
        try:
            cells = next(reader, None)
        except csv.Error as exc:
            batcher.error(RecordError(source_index=index, reason=f"line {reader.line_num}: {exc}", excerpt=""))
            index += 1
            continue
        if cells is None:
            break
        if not any(cell.strip() for cell in cells):
            continue
        row = {header[i]: cell for i, cell in enumerate(cells) if i < len(header)}
        try:
            result = to_record(row)
        except Exception as exc:
            result = f"unreadable row: {exc}"
        if isinstance(result, str):
            batcher.error(record_error(index, f"line {reader.line_num}: {result}", ",".join(cells)))
        else:
            result.source_index = index
            batcher.record(result)
            for i, column in unused.items():
                if i < len(cells) and cells[i].strip() and not _empty_outlook_date(cells[i]):
                    batcher.drop(column)
        index += 1
        if batcher.full:
            yield batcher.take()
            await asyncio.sleep(0)
    if batcher.count:
        yield batcher.take()


def _empty_outlook_date(cell: str) -> bool:
    return cell.strip() == "0/0/00"
