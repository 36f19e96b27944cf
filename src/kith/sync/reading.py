"""Reading a run's input as its source's batches: a file through the source's reader, or a JSON push."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any, BinaryIO

import msgspec

from kith.sync.schemas import RunOptions
from kith.sync.sources import RecordError, SourceBatch, SourceFormatError, SourceSpec
from kith.sync.sources._common import record_error
from kith.sync.sources.archive import ZIP_MAGIC, is_zip, read_archive
from kith.text import repair_lone_surrogates

# Enough of a file to tell its format (the sources decide on their first record).
HEAD_BYTES = 64 << 10


def open_source(
    spec: SourceSpec, stream: BinaryIO, since: dt.datetime | None, options: RunOptions, batch_size: int
) -> AsyncIterator[SourceBatch]:
    if options.format == "json":
        return _json_batches(spec, stream, since, batch_size)
    kwargs: dict[str, Any] = {"batch_size": batch_size}
    if "since" in spec.options:
        kwargs["since"] = since
    if "own_addresses" in spec.options:
        kwargs["own_addresses"] = options.own_addresses
    if "skip_bulk_mail" in spec.options:
        kwargs["skip_bulk_mail"] = options.skip_bulk_mail
    if is_zip(stream):  # a Google Takeout export: the files inside it
        return read_archive(stream, spec.suffixes, lambda member: spec.reader(member, **kwargs))
    return spec.reader(stream, **kwargs)


def _json_array(data: bytes) -> list[msgspec.Raw]:
    """The items of a JSON array, each left undecoded until its batch is parsed.

    A lone surrogate escape becomes U+FFFD (the record is cleaned, as a file's would be); nesting
    too deep for the decoder is a format error (a 422 on upload), not the run's failure.
    """
    try:
        return msgspec.json.decode(repair_lone_surrogates(data), type=list[msgspec.Raw])
    except RecursionError:
        raise SourceFormatError("the JSON nests too deeply") from None


async def _json_batches(
    spec: SourceSpec, stream: BinaryIO, since: dt.datetime | None, batch_size: int
) -> AsyncIterator[SourceBatch]:
    # A JSON push is read whole (it is bounded by the upload limit); its items are decoded a batch at a time.
    assert spec.json_parser is not None  # checked when the upload was received
    items = _json_array(stream.read())
    for start in range(0, len(items), batch_size):
        decoded, unreadable = [], {}
        for index, raw in enumerate(items[start : start + batch_size], start):
            item = _decode_item(raw, index)
            if isinstance(item, RecordError):
                unreadable[index] = item
                item = None  # the parser makes it an error at its index; that error is replaced below
            decoded.append(item)
        batch = spec.json_parser(decoded, since=since, start_index=start)
        if unreadable:
            batch.errors = [unreadable.get(error.source_index, error) for error in batch.errors]
        yield batch


def _decode_item(raw: msgspec.Raw, index: int) -> Any:
    """One item of a push, or its RecordError: a number no float holds (1e400) is the item's problem,
    raw bytes that are not UTF-8 become U+FFFD (the record is cleaned, as a file's would be)."""
    try:
        return msgspec.json.decode(raw)
    except UnicodeDecodeError:
        return _decode_item(msgspec.Raw(bytes(raw).decode("utf-8", "replace").encode()), index)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return record_error(index, f"unreadable item: {exc}", bytes(raw))


async def check_format(spec: SourceSpec, head: bytes, since: dt.datetime | None, options: RunOptions) -> None:
    """Raise SourceFormatError unless the head of the input reads as the source's format (up to its first record).

    A zip archive larger than the head is taken on trust here (its directory is at its end); a smaller one,
    or the whole archive given as `head` (kith import), is checked for the files the source reads."""
    try:
        if options.format == "json":
            _json_array(head)
            return
        if head.startswith(ZIP_MAGIC) and len(head) >= HEAD_BYTES:
            return  # an archive's directory is at its end: its files are checked as the run reads them
        async with aclosing(open_source(spec, io.BytesIO(head), since, options, batch_size=1)) as batches:
            await anext(batches, None)
    except msgspec.DecodeError as exc:
        raise SourceFormatError(f"not a JSON array: {exc}") from None
