"""vCard files (Google Contacts, Apple Contacts and other address books) → ContactRecord.

Handles vCard 2.1, 3.0 and 4.0 as exported in the wild: folded lines (split
anywhere, even inside a UTF-8 sequence), quoted-printable values with soft line
breaks (2.1, and Apple's 3.0), CHARSET parameters, backslash escapes
(including Google's `http\\://`), property groups (`item1.EMAIL`), bare 2.1
parameters (`TEL;CELL:`), and the birthday forms `1990-02-28`, `19900228`,
`--0228`, `--02-28` (and Apple's placeholder year, `X-APPLE-OMIT-YEAR`).

Kept besides names, emails, phones, company, title, birthday, links, tags and
notes: NICKNAME, the ORG units after the company (the department), ADR
(postal addresses) and related people (RELATED, Apple's X-ABRELATEDNAMES),
with the labels Apple and Google give them through property groups
(`item2.ADR` + `item2.X-ABLabel:_$!<Home>!$_`). Apple's placeholder year 1604
means a birthday without a year. Whatever else a card holds (labels of
emails, phones and links, IMPP, X-ABDATE, ...) is counted in `dropped` by
property, so the run says what was left out; nothing is dropped uncounted.
One URL in its http and https forms is one link.

The stream is read line by line and split into cards here; only one card is in
memory at a time, without its photos (PHOTO, LOGO, SOUND and KEY values are
dropped while reading, as nothing uses them; counted in `dropped` too). A parser library was not used:
vobject 0.9.9 fails on quoted-printable soft line breaks of vCard 2.1 and
mangles folded quoted-printable lines of 3.0.
"""

from __future__ import annotations

import asyncio
import calendar
import quopri
import re
from collections.abc import AsyncIterator, Iterator
from typing import BinaryIO

import phonenumbers

from kith.sync.sources._common import (
    DEFAULT_BATCH_SIZE,
    Batcher,
    RecentKeys,
    check_batch_size,
    normalize_email,
    one_line,
    record_error,
    unique,
    unique_links,
)
from kith.sync.sources.records import ContactRecord, PostalAddress, RelatedPerson, SourceBatch, SourceFormatError

__all__ = ["MAX_CARD_BYTES", "read_vcards"]

# One physical read; a longer line is read in pieces and joined.
_READ_LIMIT = 1 << 16
# One property value is cut beyond this; a card beyond MAX_CARD_BYTES (without photos) is an error.
_MAX_PROPERTY_BYTES = 1 << 20
MAX_CARD_BYTES = 4 << 20
_BINARY_PROPERTIES = {"PHOTO", "LOGO", "SOUND", "KEY"}
# Google Contacts puts every contact in its system group "myContacts": not a tag anyone chose.
_SYSTEM_GROUPS = {"mycontacts"}
_BDAY = re.compile(r"^(?:(\d{4})-?|--)(\d{2})-?(\d{2})(?:[T ].*)?$")
_BARE_ENCODINGS = {"QUOTED-PRINTABLE", "BASE64", "B", "8BIT", "7BIT"}
# Apple's placeholder year of a birthday without one (also without X-APPLE-OMIT-YEAR, in iCloud exports).
_APPLE_NO_YEAR = 1604
# phonenumbers' "unknown region": only a number written with its country code (+44 …) parses.
_ANY_REGION = "ZZ"
_APPLE_LABEL = re.compile(r"^_\$!<(.*)>!\$_$")
# TYPE values that say how a value is used, not what the user calls it.
_TYPES_NOT_LABELS = {"pref", "internet", "x400", "dom", "intl", "postal", "parcel", "voice", "text"}
# Properties about the card itself, or read with another one (X-ABLABEL with its item, X-ABADR with its ADR).
_NOT_DATA = {
    "VERSION",
    "PRODID",
    "REV",
    "KIND",
    "SOURCE",
    "X-ABLABEL",
    "X-ABADR",
    "X-ABUID",
    "X-ABSHOWAS",
    "SORT-STRING",
    "CLIENTPIDMAP",
    "X-GENERATOR",
}


class _RawCard:
    __slots__ = ("complete", "lines", "size")

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.size = 0
        self.complete = False

    @property
    def oversized(self) -> bool:
        return self.size > MAX_CARD_BYTES

    def add(self, line: bytes) -> None:
        self.size += len(line)
        if not self.oversized:
            self.lines.append(line)

    def text(self) -> str:
        return "\n".join(["BEGIN:VCARD", *(line.decode("utf-8", "replace") for line in self.lines[:20])])


def _header_end(line: bytes) -> int:
    """Index of the ':' that ends the property name and parameters (-1 when there is none)."""
    colon = line.find(b":")
    quote = line.find(b'"')
    if quote < 0 or colon < quote:
        return colon
    in_quotes = False
    for i, c in enumerate(line):
        if c == 0x22:
            in_quotes = not in_quotes
        elif c == 0x3A and not in_quotes:
            return i
    return -1


def _property_name(line: bytes) -> str:
    end = _header_end(line)
    head = line if end < 0 else line[:end]
    name = head.split(b";", 1)[0].strip().decode("ascii", "replace").upper()
    return name.rsplit(".", 1)[-1]


def _is_quoted_printable(line: bytes) -> bool:
    end = _header_end(line)
    return end > 0 and b"QUOTED-PRINTABLE" in line[:end].upper()


def _logical_lines(stream: BinaryIO) -> Iterator[bytes]:
    """Unfolded content lines; a binary property is reduced to its header (`PHOTO;TYPE=JPEG:`), its value left out."""
    current: bytearray | None = None
    skip = qp = False
    partial = False  # the previous read stopped inside an over-long line

    def start(line: bytes) -> None:
        nonlocal current, skip, qp
        name = _property_name(line)
        skip = name in _BINARY_PROPERTIES
        qp = _is_quoted_printable(line)
        end = _header_end(line)
        current = bytearray((line[:end] if end > 0 else name.encode()) + b":") if skip else bytearray(line)

    def append(data: bytes) -> None:
        if not skip and current is not None and len(current) < _MAX_PROPERTY_BYTES:
            current.extend(data)

    while True:
        piece = stream.readline(_READ_LIMIT)
        if not piece:
            break
        if isinstance(piece, str):  # a text stream: take it as UTF-8
            piece = piece.encode("utf-8")
        was_partial, partial = partial, not piece.endswith(b"\n")
        line = piece if partial else piece.rstrip(b"\r\n")
        if was_partial:
            append(line)
        elif current is not None and line[:1] in (b" ", b"\t"):
            if qp and current.endswith(b"="):  # soft line break, then a fold
                del current[-1]
            append(line[1:])
        elif current is not None and qp and current.endswith(b"=") and line.strip().upper() != b"END:VCARD":
            del current[-1]  # vCard 2.1: a quoted-printable soft line break continues unindented
            append(line)
        else:
            if current is not None:
                yield bytes(current)
            start(line)
    if current is not None:
        yield bytes(current)


def _split_raw_cards(stream: BinaryIO) -> Iterator[_RawCard]:
    card: _RawCard | None = None
    first = True
    for line in _logical_lines(stream):
        token = line.strip()
        if first:
            token = token.removeprefix(b"\xef\xbb\xbf")
        if not token:
            continue
        upper = token.upper()
        if first:
            first = False
            if upper != b"BEGIN:VCARD":
                shown = token[:60].decode("utf-8", "replace")
                raise SourceFormatError(f"not a vCard file: it should begin with BEGIN:VCARD, not {shown!r}")
        if upper == b"BEGIN:VCARD":
            if card is not None:
                yield card  # no END:VCARD before the next card
            card = _RawCard()
        elif upper == b"END:VCARD":
            if card is not None:
                card.complete = True
                yield card
                card = None
        elif card is not None:
            card.add(line)
        # Anything between cards is ignored.
    if card is not None:
        yield card


# -- property values ---------------------------------------------------------


def _split_outside_quotes(data: bytes, sep: int) -> list[bytes]:
    if b'"' not in data:
        return data.split(bytes([sep]))
    parts: list[bytes] = []
    start = 0
    in_quotes = False
    for i, c in enumerate(data):
        if c == 0x22:
            in_quotes = not in_quotes
        elif c == sep and not in_quotes:
            parts.append(data[start:i])
            start = i + 1
    parts.append(data[start:])
    return parts


def _parse_line(line: bytes) -> tuple[str, dict[str, list[str]], bytes] | None:
    end = _header_end(line)
    if end <= 0:
        return None
    head, value = line[:end], line[end + 1 :]
    parts = _split_outside_quotes(head, 0x3B)  # ';'
    name = parts[0].strip().decode("ascii", "replace").upper().rsplit(".", 1)[-1]
    params: dict[str, list[str]] = {}
    for part in parts[1:]:
        text = part.decode("utf-8", "replace").strip()
        if not text:
            continue
        if "=" in text:
            key, raw = text.split("=", 1)
            key = key.strip().upper()
            values = [v.strip().strip('"').strip() for v in raw.split(",")]
        else:  # vCard 2.1 bare parameter: TEL;CELL / NOTE;QUOTED-PRINTABLE
            key = "ENCODING" if text.upper() in _BARE_ENCODINGS else "TYPE"
            values = [text]
        params.setdefault(key, []).extend(v for v in values if v)
    return name, params, value


def _decode(value: bytes, params: dict[str, list[str]]) -> str:
    encodings = {e.upper() for e in params.get("ENCODING", ())}
    if "QUOTED-PRINTABLE" in encodings:
        value = quopri.decodestring(value)
    charsets = params.get("CHARSET") or ["utf-8"]
    for charset in (charsets[0], "utf-8"):
        try:
            return value.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
    return value.decode("cp1252", "replace")


def _components(value: str, separators: str) -> list[str]:
    """Split on unescaped separators and undo backslash escapes (\\n, \\, \\; \\\\ ...)."""
    if "\\" not in value:
        if not separators:
            return [value]
        return re.split(f"[{re.escape(separators)}]", value)
    out: list[str] = []
    current: list[str] = []
    i, n = 0, len(value)
    while i < n:
        c = value[i]
        if c == "\\" and i + 1 < n:
            nxt = value[i + 1]
            current.append("\n" if nxt in "nN" else nxt)
            i += 2
            continue
        if c in separators:
            out.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    out.append("".join(current))
    return out


def _text(value: str) -> str:
    return _components(value, "")[0]


def _birthday(value: str, params: dict[str, list[str]]) -> tuple[int, int, int | None] | None:
    m = _BDAY.match(value.strip())
    if not m:
        return None
    year = int(m.group(1)) if m.group(1) else None
    month, day = int(m.group(2)), int(m.group(3))
    omit = params.get("X-APPLE-OMIT-YEAR")
    if year is not None and (year in (0, _APPLE_NO_YEAR) or (omit and omit[0].strip() == str(year))):
        year = None
    if not 1 <= month <= 12:
        return None
    if not 1 <= day <= (29 if month == 2 else calendar.monthrange(2000, month)[1]):
        return None
    if year is not None and month == 2 and day == 29 and not calendar.isleap(year):
        year = None  # a 29 February in a common year: keep the day, the year is wrong
    return month, day, year


def _group(line: bytes) -> str | None:
    """The property group of a content line (`item1` of `item1.EMAIL:…`), lowercased, or None."""
    end = _header_end(line)
    name = (line if end < 0 else line[:end]).split(b";", 1)[0].strip()
    group, dot, _ = name.rpartition(b".")
    return group.decode("ascii", "replace").lower() if dot else None


def _label(value: str) -> str | None:
    """An item label as a word: Apple's built-in `_$!<Spouse>!$_` → "spouse" (as TYPE=spouse would say);
    a label the user typed stays as typed."""
    label = one_line(_text(value))
    m = _APPLE_LABEL.match(label)
    return (m.group(1).lower() if m else label) or None


def _type_label(params: dict[str, list[str]]) -> str | None:
    types = [t.lower() for t in params.get("TYPE", ()) if t.lower() not in _TYPES_NOT_LABELS]
    return types[0] if types else None


def _address(value: str, label: str | None) -> PostalAddress | None:
    parts = [one_line(p) or None for p in _components(value, ";")]
    po_box, extended, street, locality, region, postal_code, country = ([*parts, *[None] * 7])[:7]
    if not any((po_box, extended, street, locality, region, postal_code, country)):
        return None
    return PostalAddress(
        label=label,
        po_box=po_box,
        extended=extended,
        street=street,
        locality=locality,
        region=region,
        postal_code=postal_code,
        country=country,
    )


def _international_number(phone: str) -> bool:
    """A valid number written with its country code: the same in any region, so a key (E.164) to match on."""
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(phone, _ANY_REGION))
    except phonenumbers.NumberParseException:
        return False


def _card_to_record(card: _RawCard, index: int, dropped: list[str]) -> ContactRecord | str:
    """The record, or the reason it cannot be one; what the card holds that Kith keeps nowhere is added to
    `dropped` (by property name)."""
    fn: str | None = None
    n_name: str | None = None
    emails: list[str] = []
    phones: list[str] = []
    company: str | None = None
    department: str | None = None
    title: str | None = None
    nicknames: list[str] = []
    tags: list[str] = []
    bday: tuple[int, int, int | None] | None = None
    links: list[str] = []
    notes: list[str] = []
    uid: str | None = None
    addresses: list[PostalAddress] = []
    related: list[RelatedPerson] = []

    parsed_lines = [(line, parsed) for line in card.lines if (parsed := _parse_line(line)) is not None]
    # Apple (and Google) label a property through its group: item1.ADR … item1.X-ABLabel:_$!<Home>!$_
    labels = {_group(line): _decode(raw, params) for line, (name, params, raw) in parsed_lines if name == "X-ABLABEL"}
    labels.pop(None, None)
    labels_used: set[str | None] = set()

    for line, (name, params, raw) in parsed_lines:
        value = _decode(raw, params)
        group = _group(line)
        if name == "FN":
            fn = fn or one_line(_text(value)) or None
        elif name == "N":
            parts = [one_line(p) for p in _components(value, ";")]
            family, given, additional = ([*parts, "", "", ""])[:3]
            n_name = n_name or " ".join(p for p in (given, additional, family) if p) or None
        elif name == "NICKNAME":
            nicknames += [one_line(p) for p in _components(value, ",")]
        elif name == "EMAIL":
            email = normalize_email(_text(value))
            if email:
                emails.append(email)
        elif name == "TEL":
            phone = one_line(_text(value))
            if phone.lower().startswith("tel:"):
                phone = phone[4:]
            if phone:
                phones.append(phone)
        elif name == "ORG":
            units = [unit for p in _components(value, ";") if (unit := one_line(p))]
            if units and company is None:
                company, department = units[0], " / ".join(units[1:]) or None
        elif name == "TITLE":
            title = title or one_line(_text(value)) or None
        elif name == "BDAY":
            bday = bday or _birthday(_text(value), params)
        elif name in ("URL", "X-SOCIALPROFILE"):
            link = _text(value).strip()
            if link:
                links.append(link)
        elif name == "CATEGORIES":
            for tag in _components(value, ","):
                tag = one_line(tag)
                if tag and tag.lower() not in _SYSTEM_GROUPS:
                    tags.append(tag)
        elif name == "NOTE":
            note = _text(value).replace("\r\n", "\n").replace("\r", "\n").strip()
            if note:
                notes.append(note)
        elif name == "UID":
            uid = uid or _text(value).strip() or None
        elif name == "ADR":
            labels_used.add(group)
            label = _label(labels[group]) if group in labels else _type_label(params)
            if (address := _address(value, label)) is not None:
                addresses.append(address)
        elif name in ("X-ABRELATEDNAMES", "RELATED"):
            labels_used.add(group)
            person = one_line(_text(value))
            relation = _label(labels[group]) if group in labels else _type_label(params)
            if person.lower().startswith(("urn:", "http:", "https:", "mailto:")):
                dropped.append(name)  # a reference to another card, not a name
            elif person:
                related.append(RelatedPerson(name=person, relation=relation))
        elif name not in _NOT_DATA:
            dropped.append(name)
    # A label on an email, a phone or a link has no place in Kith: counted, like a photo.
    dropped += ["X-ABLABEL"] * len(set(labels) - labels_used)

    emails = unique(emails)
    phones = unique(phones)
    full_name = fn or n_name or (emails[0] if emails else None)
    # A card without a name or an email (a company's card, a phone number alone) is kept when a re-import can
    # find it again: by its UID, or by a phone number in international form (a key, as E.164).
    if not full_name and (uid or any(map(_international_number, phones))):
        full_name = company or (phones[0] if phones else None)
    if not full_name:
        return "card has no name (FN or N) and no email"
    return ContactRecord(
        full_name=full_name,
        emails=emails,
        phones=phones,
        company=company,
        department=department,
        title=title,
        nickname=", ".join(unique(nicknames)) or None,
        tags=unique(tags),
        birthday_month=bday[0] if bday else None,
        birthday_day=bday[1] if bday else None,
        birthday_year=bday[2] if bday else None,
        links=unique_links(links),
        notes="\n\n".join(notes) or None,
        addresses=addresses,
        related=related,
        external_id=uid,
        source_index=index,
    )


async def read_vcards(
    stream: BinaryIO, *, batch_size: int = DEFAULT_BATCH_SIZE
) -> AsyncIterator[SourceBatch[ContactRecord]]:
    """Contacts of a .vcf stream, in batches of at most `batch_size` cards.

    Raises SourceFormatError before yielding anything when the stream does not
    begin with BEGIN:VCARD. An empty stream yields nothing. A card without a
    name or an email, without END:VCARD, or larger than MAX_CARD_BYTES
    (photos excluded) becomes a RecordError; a card whose UID repeats a recent
    card's is counted in `duplicates`. What the cards imported hold that Kith
    does not keep (photos, labels of emails, ...) is counted in `dropped`, by property.
    """
    batcher: Batcher[ContactRecord] = Batcher(check_batch_size(batch_size))
    recent = RecentKeys()
    for index, card in enumerate(_split_raw_cards(stream)):
        if not card.complete:
            batcher.error(record_error(index, "card has no END:VCARD", card.text()))
        elif card.oversized:
            batcher.error(record_error(index, f"card is larger than {MAX_CARD_BYTES} bytes", card.text()))
        else:
            dropped: list[str] = []
            try:
                result = _card_to_record(card, index, dropped)
            except Exception as exc:
                result = f"unparseable card: {exc}"
            if isinstance(result, str):
                batcher.error(record_error(index, result, card.text()))
            elif result.external_id is not None and recent.seen(result.external_id):
                batcher.duplicate()
            else:
                batcher.record(result)
                for name in dropped:
                    batcher.drop(name)
        if batcher.full:
            yield batcher.take()
            await asyncio.sleep(0)
    if batcher.count:
        yield batcher.take()
