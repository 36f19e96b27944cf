"""Kept until notified: the one process cache for what stays true until the notification channel says not.

Plans, known tokens and pages are kept here. An entry never leaves by age: it leaves when its owner
forgets it on a notification, when the channel is lost (`reset`: messages may have been missed), or,
least recently used first, when the cache is over its size (entries count 1 each unless given a size,
e.g. a page's bytes).

A value read from the database is stored with the generation read *before* the read (`stamp`); if a
notification touching that partition (or all) arrived meanwhile, the value may be older than the
message and is not kept. Nothing is kept while the channel is not heard.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

from kith.observability.metrics import cache_counter

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

Stamp = tuple[int, int]  # (the generation of the whole cache, the generation of the partition)


class KeptUntilNotified(Generic[K, V]):
    def __init__(
        self,
        name: str,
        listening: Callable[[], bool],
        max_size: int,
        partition_of: Callable[[K], Hashable] = lambda _key: None,
    ) -> None:
        self.name = name
        self._listening = listening
        self.max_size = max_size
        self._partition_of = partition_of
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._partitions: dict[Hashable, int] = {}  # partition → generation, only for those that moved
        self._keys: dict[Hashable, set[K]] = {}  # partition → its keys held
        self._generation = 0
        self.size = 0
        self._hit, self._miss = cache_counter(name, hit=True), cache_counter(name, hit=False)

    def stamp(self, key: K) -> Stamp:
        """Take before reading what will be `keep`-ed under `key`."""
        return self._generation, self._partitions.get(self._partition_of(key), 0)

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            self._miss.inc()
            return None
        self._hit.inc()
        self._entries.move_to_end(key)
        return entry[0]

    def keep(self, key: K, value: V, stamp: Stamp, size: int = 1) -> None:
        if stamp != self.stamp(key) or not self._listening() or size > self.max_size:
            return
        self.discard(key)
        self._entries[key] = (value, size)
        self._keys.setdefault(self._partition_of(key), set()).add(key)
        self.size += size
        while self.size > self.max_size:
            self.discard(next(iter(self._entries)))

    def discard(self, key: K) -> None:
        if (entry := self._entries.pop(key, None)) is not None:
            self.size -= entry[1]
            partition = self._partition_of(key)
            keys = self._keys[partition]
            keys.discard(key)
            if not keys:
                del self._keys[partition]

    def forget_partition(self, partition: Hashable) -> None:
        """Everything under `partition` (e.g. a tenant) changed."""
        self._partitions[partition] = self._partitions.get(partition, 0) + 1
        for key in list(self._keys.get(partition, ())):
            self.discard(key)

    def forget_where(self, changed: Callable[[K, V], bool]) -> None:
        """The entries `changed` names changed (a look-up under way anywhere is not kept)."""
        self._generation += 1
        for key in [k for k, (v, _) in self._entries.items() if changed(k, v)]:
            self.discard(key)

    def reset(self) -> None:
        """The channel was lost: anything may have changed."""
        self._generation += 1
        self._partitions.clear()
        self._entries.clear()
        self._keys.clear()
        self.size = 0

    def items(self) -> Iterator[tuple[K, V]]:
        return ((k, v) for k, (v, _) in self._entries.items())

    def __len__(self) -> int:
        return len(self._entries)
