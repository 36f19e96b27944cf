"""A zip archive (a Google Takeout export) read as the files inside it that a source reads.

Each member whose name ends with one of the source's suffixes (`.mbox` for mbox, `.vcf` for vCard, ...) is
decompressed as it is parsed, one after the other, never extracted whole: memory stays flat. The archive
must be seekable (its directory is at its end); uploads are (kith.sync.uploads.ChunkStream). Zip-bomb limits:
at most MAX_MEMBERS entries, a member may not expand more than MAX_RATIO times its compressed size, nor to
more than it declares, nor past MAX_UNZIPPED_BYTES in all.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator, Callable
from typing import Any, BinaryIO

from kith.sync.sources.records import SourceBatch, SourceFormatError

__all__ = ["MAX_MEMBERS", "MAX_RATIO", "MAX_UNZIPPED_BYTES", "is_zip", "read_archive"]

ZIP_MAGIC = b"PK\x03\x04"
MAX_MEMBERS = 100_000
# Text compresses 5-20 times; a zip bomb a thousand times and more.
MAX_RATIO = 200
MAX_UNZIPPED_BYTES = 64 << 30


def is_zip(stream: BinaryIO) -> bool:
    """Whether the stream starts a zip archive (read from its current position, which is kept)."""
    if hasattr(stream, "peek"):
        return stream.peek(4)[:4] == ZIP_MAGIC
    start = stream.tell()
    head = stream.read(4)
    stream.seek(start)
    return head == ZIP_MAGIC


class _Bounded(io.RawIOBase):
    """A member's bytes, refused beyond what it declared and beyond the archive's total budget."""

    def __init__(self, raw: BinaryIO, declared: int, budget: list[int]) -> None:
        self._raw, self._left, self._budget = raw, declared, budget

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        self._left -= len(data)
        self._budget[0] -= len(data)
        if self._left < 0 or self._budget[0] < 0:
            raise SourceFormatError("a file in the archive expands past its declared size or the limit")
        buffer[: len(data)] = data
        return len(data)


def members(archive: zipfile.ZipFile, suffixes: tuple[str, ...]) -> list[zipfile.ZipInfo]:
    """The files of the archive the source reads, in archive order; SourceFormatError if none or too many."""
    entries = archive.infolist()
    if len(entries) > MAX_MEMBERS:
        raise SourceFormatError(f"the archive has more than {MAX_MEMBERS} entries")
    chosen = [m for m in entries if not m.is_dir() and m.filename.lower().endswith(suffixes)]
    if not chosen:
        raise SourceFormatError(f"the zip archive holds no {' or '.join(suffixes)} file")
    for member in chosen:
        if member.file_size > MAX_RATIO * max(member.compress_size, 1):
            raise SourceFormatError(f"{member.filename} expands more than {MAX_RATIO} times: refused (a zip bomb?)")
    return chosen


async def read_archive(
    stream: BinaryIO, suffixes: tuple[str, ...], read: Callable[[BinaryIO], AsyncIterator[SourceBatch]]
) -> AsyncIterator[SourceBatch]:
    """The batches `read` yields for each member the source reads, their indexes counted across members."""
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SourceFormatError(f"not a readable zip archive: {exc}") from None
    budget = [MAX_UNZIPPED_BYTES]
    offset = 0
    with archive:
        for member in members(archive, suffixes):
            with archive.open(member) as raw:
                seen = 0
                async for batch in read(io.BufferedReader(_Bounded(raw, member.file_size, budget))):
                    for item in (*batch.records, *batch.errors):
                        item.source_index += offset
                    seen += batch.seen
                    yield batch
            offset += seen
