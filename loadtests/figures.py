"""The figures a benchmark script hands to `bench.py`, beside the table it prints for a person.

Each script calls `record("pagination.cursor.page_10000", median=…, p99=…)` for the numbers the report
compares; with `KITH_BENCH_FIGURES` set (bench.py sets it) they are appended there as JSON lines, else
nothing happens, so every script still runs on its own.
"""

from __future__ import annotations

import json
import os


def record(key: str, **values: float | int | str) -> None:
    """Keep one figure (a median and p99 in ms, a rate, seconds…) under a stable key."""
    path = os.environ.get("KITH_BENCH_FIGURES")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"key": key, **values}) + "\n")
