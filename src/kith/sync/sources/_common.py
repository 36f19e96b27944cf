"""Helpers shared by the source parsers: batching, bounded de-duplication, text clean-up."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections import OrderedDict
from html.parser import HTMLParser
from typing import Any, BinaryIO, Generic, TextIO

from kith.sync.sources.records import EXCERPT_CHARS, R, RecordError, SourceBatch

# Records per batch: a batch lands in one transaction of a few statements, so larger batches spread
# their fixed cost (round trips, planning, commit) thinner; memory is bounded by this and by the
# sources' own caps on a batch's text.
DEFAULT_BATCH_SIZE = 5000
# How many recent keys a source remembers to drop duplicates: bounded, so memory stays flat.
RECENT_KEYS = 100_000

_WS = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_ANY_WS = re.compile(r"\s+")


def text_stream(stream: TextIO | BinaryIO) -> TextIO:
    """A CSV reader's text stream: a binary stream is read as UTF-8 (a BOM skipped, undecodable bytes as U+FFFD)."""
    if isinstance(stream, io.TextIOBase):
        return stream  # type: ignore[return-value]
    probe = stream.read(0)
    if isinstance(probe, bytes):
        return io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")  # type: ignore[arg-type]
    return stream  # type: ignore[return-value]


def check_batch_size(batch_size: int) -> int:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, not {batch_size!r}")
    return batch_size


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """Aware UTC; a naive datetime is taken as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def excerpt(text: str | bytes) -> str:
    if isinstance(text, bytes):
        text = text[: EXCERPT_CHARS * 4].decode("utf-8", "replace")
    return text[:EXCERPT_CHARS]


def record_error(index: int, reason: str, raw: str | bytes) -> RecordError:
    return RecordError(source_index=index, reason=reason, excerpt=excerpt(raw))


def one_line(text: str | None) -> str:
    """All whitespace runs collapsed to one space, trimmed."""
    return _ANY_WS.sub(" ", text or "").strip()


def normalize_email(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip().strip("<>").strip()
    if value[:7].lower() == "mailto:":
        value = value[7:]
    value = value.strip().lower()
    if "@" not in value or any(c.isspace() for c in value):
        return None
    return value


def unique(values: list[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for v in values:
        if v and v not in seen:
            seen.add(v)
            out.append(v)
    return out


def _link_key(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return url
    host, slash, path = rest.partition("/")
    return f"{host.lower().removeprefix('www.')}{slash}{path}".rstrip("/")


def unique_links(links: list[str]) -> list[str]:
    """Links in source order, one per address: http and https forms (and a trailing slash, a "www.") of one
    URL are one link, kept in its https form when the source gives one."""
    kept: dict[str, str] = {}
    for link in links:
        if not link:
            continue
        key = _link_key(link)
        if key not in kept or (link.lower().startswith("https://") and not kept[key].lower().startswith("https://")):
            kept[key] = link
    return list(kept.values())


class _TextExtractor(HTMLParser):
    _SKIP = {"script", "style", "head", "title", "noscript", "template"}
    _BLOCK = {
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "tr",
        "table",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "hr",
        "section",
        "article",
        "header",
        "footer",
        "dd",
        "dt",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Visible text of an HTML fragment or document: tags dropped, entities decoded, blocks on their own lines."""
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
    except Exception:
        pass
    lines = (_WS.sub(" ", line).strip() for line in "".join(parser.parts).split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


class NewestFirstWindow:
    """Tells a reader of an input that is usually newest first (a LinkedIn export, a feed) when it
    has passed the `since` window for good: after `evidence` dated items in a row that are older
    than `since` and never newer than the one before. An input in another order (oldest first,
    shuffled) is read to its end: that many old items in newest-first order do not happen by chance."""

    def __init__(self, since: Any, evidence: int = 100) -> None:
        self._since = since
        self._evidence = evidence
        self._previous: Any = None
        self._older_in_order = 0

    def passed(self, when: Any) -> bool:
        """Note the next dated item's date (None: undated); True once the rest can only be older."""
        if self._since is None or when is None:
            return False
        in_order = self._previous is None or when <= self._previous
        self._previous = when
        self._older_in_order = self._older_in_order + 1 if when < self._since and in_order else 0
        return self._older_in_order >= self._evidence


class RecentKeys:
    """The last `capacity` keys seen: a duplicate within that window is reported, memory stays bounded."""

    def __init__(self, capacity: int = RECENT_KEYS) -> None:
        self._capacity = capacity
        self._keys: OrderedDict[str, None] = OrderedDict()

    def seen(self, key: str) -> bool:
        """True when `key` was seen recently; otherwise remember it and return False."""
        if key in self._keys:
            self._keys.move_to_end(key)
            return True
        self._keys[key] = None
        if len(self._keys) > self._capacity:
            self._keys.popitem(last=False)
        return False


class Batcher(Generic[R]):
    """Collects one bounded batch: full once it accounts for `batch_size` input items."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = check_batch_size(batch_size)
        self._reset()

    def _reset(self) -> None:
        self.records: list[R] = []
        self.errors: list[RecordError] = []
        self.skipped = 0
        self.skipped_as: dict[str, int] = {}
        self.duplicates = 0
        self.dropped: dict[str, int] = {}
        self.count = 0

    def record(self, record: R) -> None:
        self.records.append(record)
        self.count += 1

    def error(self, error: RecordError) -> None:
        self.errors.append(error)
        self.count += 1

    def skip(self, reason: str | None = None) -> None:
        """An input item left out; `reason` (bulk mail, ...) counts it by why, on the run."""
        self.skipped += 1
        self.count += 1
        if reason is not None:
            self.skipped_as[reason] = self.skipped_as.get(reason, 0) + 1

    def duplicate(self) -> None:
        self.duplicates += 1
        self.count += 1

    def drop(self, name: str) -> None:
        """A value of a kept record that is not imported (not an input item: `count` is unchanged)."""
        self.dropped[name] = self.dropped.get(name, 0) + 1

    @property
    def full(self) -> bool:
        return self.count >= self.batch_size

    def take(self) -> SourceBatch[R]:
        batch: SourceBatch[R] = SourceBatch(
            records=self.records,
            errors=self.errors,
            skipped=self.skipped,
            skipped_as=self.skipped_as,
            duplicates=self.duplicates,
            dropped=self.dropped,
        )
        self._reset()
        return batch
