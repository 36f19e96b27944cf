"""RSS 2.0 / 0.9x, RSS 1.0 (RDF) and Atom 1.0 feeds → MentionRecord.

The feed is parsed incrementally with the stdlib pull parser
(`xml.etree.ElementTree.XMLPullParser`, fed 64 KiB at a time); each item is
turned into a record and removed from the tree when it ends, so memory stays
flat whatever the feed's length. Expat ≥ 2.4.1 (bundled with CPython since
3.9.5/3.10) refuses entity-expansion bombs, and external entities are never
fetched. (feedparser was not used: it reads the whole document into memory.)

`dedupe_key` is the item's guid (RSS), id (Atom) or rdf:about (RSS 1.0), else
its link. A guid that is no URI (`1234`) is only unique within its feed: it is
qualified with the feed's own link or id (`https://blog.example/#1234`), so
two feeds that both number their items do not collide.
"""

from __future__ import annotations

import asyncio
import codecs
import datetime as dt
import email.utils
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from typing import BinaryIO

from kith.sync.sources._common import (
    DEFAULT_BATCH_SIZE,
    Batcher,
    NewestFirstWindow,
    RecentKeys,
    as_utc,
    check_batch_size,
    html_to_text,
    one_line,
    record_error,
)
from kith.sync.sources.records import MentionRecord, SourceBatch, SourceFormatError

__all__ = ["parse_feed_date", "read_feed"]

_CHUNK = 1 << 16
_TITLE_FROM_SUMMARY = 120

ATOM = "{http://www.w3.org/2005/Atom}"
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
RSS1 = "{http://purl.org/rss/1.0/}"
DC = "{http://purl.org/dc/elements/1.1/}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S")
# root tag → (kind, item tag)
_ROOTS = {
    "rss": ("rss", "item"),
    f"{ATOM}feed": ("atom", f"{ATOM}entry"),
    f"{RDF}RDF": ("rdf", f"{RSS1}item"),
}

# (tag, parent tag) of the element naming the feed itself.
_FEED_KEYS = {("link", "channel"), (f"{ATOM}id", f"{ATOM}feed"), (f"{RSS1}link", f"{RSS1}channel")}


# Characters XML 1.0 forbids (a NUL, most C0 controls, lone surrogates, U+FFFE/U+FFFF): dropped before
# parsing, as are bytes that are not text in the feed's encoding (read as U+FFFD), so one bad item
# is cleaned instead of ending the feed there.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_DECLARED_ENCODING = re.compile(rb"^<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")


def _encoding_of(head: bytes) -> str:
    """The feed's encoding: from its byte order mark, else its XML declaration, else UTF-8."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if match := _DECLARED_ENCODING.match(head.removeprefix(codecs.BOM_UTF8)):
        try:
            name = codecs.lookup(match.group(1).decode()).name
        except LookupError:
            pass
        else:
            return "utf-8-sig" if name == "utf-8" else name
    return "utf-8-sig"


def _xml_text(stream: BinaryIO) -> Iterator[str]:
    """The feed as text, chunk by chunk, with what XML forbids dropped (see _NOT_XML).

    Handed to the parser as text, whose encoding it then takes as given."""
    chunk = stream.read(_CHUNK)
    decoder = codecs.getincrementaldecoder(_encoding_of(chunk))(errors="replace")
    while chunk:
        yield _NOT_XML.sub("", decoder.decode(chunk))
        chunk = stream.read(_CHUNK)
    yield _NOT_XML.sub("", decoder.decode(b"", final=True))


def parse_feed_date(value: str | None) -> dt.datetime | None:
    """RFC 822 (RSS pubDate) or RFC 3339 / ISO 8601 (Atom, dc:date) → aware UTC; None when unparseable."""
    text = one_line(value)
    if not text:
        return None
    try:
        return as_utc(email.utils.parsedate_to_datetime(text))
    except (TypeError, ValueError, IndexError):
        pass
    try:
        return as_utc(dt.datetime.fromisoformat(text.replace("z", "Z")))
    except ValueError:
        pass
    try:
        day = dt.date.fromisoformat(text[:10])
    except ValueError:
        return None
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _text(elem: ET.Element | None) -> str | None:
    if elem is None:
        return None
    return "".join(elem.itertext()).strip() or None


def _atom_text(elem: ET.Element | None) -> str | None:
    """An Atom text construct as plain text (type text, html or xhtml)."""
    text = _text(elem)
    if text is None or elem is None:
        return None
    if elem.get("type", "text").lower() in ("html", "text/html"):
        text = html_to_text(text)
    return one_line(text) or None


def _atom_link(entry: ET.Element) -> str | None:
    fallback = None
    for link in entry.findall(f"{ATOM}link"):
        href = (link.get("href") or "").strip()
        if not href:
            continue
        if link.get("rel", "alternate") == "alternate":
            return href
        fallback = fallback or href
    return fallback


def _first(elem: ET.Element, *tags: str) -> ET.Element | None:
    for tag in tags:
        child = elem.find(tag)
        if child is not None:
            return child
    return None


def _item_fields(kind: str, item: ET.Element) -> tuple[str | None, str | None, str | None, str | None, str | None]:
    """(key, title, link, summary, date) of one item."""
    if kind == "atom":
        return (
            _text(item.find(f"{ATOM}id")),
            _atom_text(item.find(f"{ATOM}title")),
            _atom_link(item),
            _atom_text(item.find(f"{ATOM}summary")) or _atom_text(item.find(f"{ATOM}content")),
            _text(item.find(f"{ATOM}published")) or _text(item.find(f"{ATOM}updated")),
        )
    ns = RSS1 if kind == "rdf" else ""
    key = _text(item.find("guid")) if kind == "rss" else (item.get(f"{RDF}about") or "").strip() or None
    link = _text(_first(item, f"{ns}link", "link")) or None
    if link is None:
        atom_link = item.find(f"{ATOM}link")
        link = (atom_link.get("href") or "").strip() or None if atom_link is not None else None
    description = _text(_first(item, f"{ns}description", "description")) or _text(item.find(f"{CONTENT}encoded"))
    summary = one_line(html_to_text(description)) if description else None
    return (
        key,
        one_line(_text(_first(item, f"{ns}title", "title"))) or None,
        link,
        summary or None,
        _text(item.find("pubDate")) or _text(item.find(f"{DC}date")),
    )


def _to_record(kind: str, item: ET.Element, index: int, feed_key: str | None) -> MentionRecord | str:
    key, title, link, summary, date = _item_fields(kind, item)
    if key and not _URI.match(key) and feed_key:
        key = f"{feed_key}#{key}"
    key = key or link
    if not key:
        return "item has no guid/id and no link"
    if not title:
        if not summary:
            return "item has no title and no summary"
        title = summary[:_TITLE_FROM_SUMMARY]
    return MentionRecord(
        dedupe_key=key,
        title=title,
        link=link,
        summary=summary,
        published_at=parse_feed_date(date),
        source_index=index,
    )


def _excerpt_of(item: ET.Element) -> str:
    try:
        return ET.tostring(item, encoding="unicode").strip()
    except Exception:
        return _text(item) or ""


async def read_feed(
    stream: BinaryIO,
    *,
    since: dt.datetime | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> AsyncIterator[SourceBatch[MentionRecord]]:
    """News items of an RSS or Atom feed, in batches of at most `batch_size` items.

    Raises SourceFormatError before yielding anything when the input is not
    XML, or its root element is not <rss>, Atom's <feed> or RSS 1.0's
    <rdf:RDF> (an HTML page, for one). Items published before `since` are
    counted in `skipped` (an item without a date is kept), and reading stops
    once the feed, newest first as feeds are, has passed `since` for good
    (see NewestFirstWindow); an item without
    guid/id and link, or without title and summary, is a RecordError; a
    repeated dedupe_key is counted in `duplicates`. XML broken after the
    root ends the feed with one RecordError; the items before it are kept.
    """
    check_batch_size(batch_size)
    since_utc = as_utc(since)
    window = NewestFirstWindow(since_utc)
    parser = ET.XMLPullParser(events=("start", "end"))
    batcher: Batcher[MentionRecord] = Batcher(batch_size)
    recent = RecentKeys()
    kind: str | None = None
    item_tag = ""
    stack: list[ET.Element] = []
    item_depth = 0
    feed_key: str | None = None
    index = 0
    done = False
    chunks = _xml_text(stream)

    while not done:
        chunk = next(chunks, None)
        try:
            if chunk is not None:
                parser.feed(chunk)
            else:
                done = True
                parser.close()
            for event, elem in parser.read_events():
                if event == "start":
                    if kind is None:
                        if elem.tag not in _ROOTS:
                            raise SourceFormatError(f"not an RSS or Atom feed: its root element is <{elem.tag}>")
                        kind, item_tag = _ROOTS[elem.tag]
                    stack.append(elem)
                    if elem.tag == item_tag:
                        item_depth += 1
                    continue

                stack.pop()
                parent = stack[-1] if stack else None
                if elem.tag == item_tag and item_depth == 1:
                    item_depth = 0
                    try:
                        result = _to_record(kind, elem, index, feed_key)
                    except Exception as exc:
                        result = f"unparseable item: {exc}"
                    if isinstance(result, str):
                        batcher.error(record_error(index, result, _excerpt_of(elem)))
                    elif since_utc is not None and result.published_at is not None and result.published_at < since_utc:
                        batcher.skip()
                    elif recent.seen(result.dedupe_key):
                        batcher.duplicate()
                    else:
                        batcher.record(result)
                    index += 1
                    if not isinstance(result, str) and window.passed(result.published_at):
                        done = True  # a feed lists its newest items first: the rest is older than the window
                        break
                elif elem.tag == item_tag:
                    item_depth -= 1
                    continue
                elif item_depth:
                    continue  # a part of the item being read
                elif (
                    feed_key is None and parent is not None and len(stack) <= 2 and (elem.tag, parent.tag) in _FEED_KEYS
                ):
                    # The feed's own link (RSS <channel><link>) or id (Atom <feed><id>).
                    feed_key = _text(elem)
                if parent is not None:
                    parent.remove(elem)
                if batcher.full:
                    yield batcher.take()
                    await asyncio.sleep(0)
        except ET.ParseError as exc:
            if kind is None:
                raise SourceFormatError(f"not an RSS or Atom feed: not well-formed XML ({exc})") from None
            batcher.error(record_error(index, f"feed is not well-formed XML after this point: {exc}", ""))
            break
    if batcher.count:
        yield batcher.take()
