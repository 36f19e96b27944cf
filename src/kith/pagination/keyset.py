"""Keyset ("seek") paging: predicates and ORDER BY for a sort on `(key…, id)`.

Every sort has one direction for all its columns, so a seek is a plain row
comparison, `(a, b) < (:a, :b)`, which PostgreSQL answers with an index range
on a matching index, forward or (scanning it backwards) in reverse. Sort
columns are never NULL: views store a sentinel instead (see db/views).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kith.pagination.cursor import Direction


@dataclass(frozen=True, slots=True)
class Sort:
    columns: tuple[str, ...]  # the last one is the row's unique id
    key_types: tuple[type, ...]
    descending: bool

    def reading_descending(self, direction: Direction) -> bool:
        """Which way the index is read: paging backwards reads it the other way."""
        return self.descending != (direction == "prev")

    def order_by(self, direction: Direction, alias: str = "") -> str:
        way = "DESC" if self.reading_descending(direction) else "ASC"
        return ", ".join(f"{alias}{column} {way}" for column in self.columns)

    def seek(self, direction: Direction, alias: str, params: Sequence[str]) -> str:
        """Rows strictly after the bound key, in reading order."""
        op = "<" if self.reading_descending(direction) else ">"
        columns = ", ".join(f"{alias}{c}" for c in self.columns)
        return f"({columns}) {op} ({', '.join(f':{p}' for p in params)})"
