"""A deterministic synthetic message source, for benchmarks and tests: same arguments, same messages.

It yields `SourceBatch[MessageRecord]` like the mbox source, so it goes
through the same batch writer; `write_mbox` writes the same messages as an
mbox file, to run the whole import (parser included) on inputs of any size.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import AsyncIterator, Iterator
from email.utils import format_datetime
from typing import BinaryIO

from kith.sync.sources._common import DEFAULT_BATCH_SIZE
from kith.sync.sources.records import MessageRecord, SourceBatch

OWN_ADDRESS = "me@synthetic.example"
EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
_WORDS = [
    "lunch",
    "next",
    "week",
    "project",
    "update",
    "thanks",
    "for",
    "the",
    "intro",
    "coffee",
    "call",
    "tomorrow",
    "draft",
    "attached",
    "quick",
    "question",
    "about",
    "the",
    "offsite",
    "great",
    "to",
    "see",
    "you",
    "let",
    "us",
    "catch",
    "up",
    "soon",
    "the",
    "numbers",
    "look",
    "good",
]


def messages(count: int, *, seed: int = 1, people: int = 5000, thread_length: int = 4) -> Iterator[MessageRecord]:
    """`count` messages with `people` counterparts, a thread per `thread_length` messages, newest first."""
    rng = random.Random(seed)
    for i in range(count):
        person = rng.randrange(people)
        outgoing = rng.random() < 0.4
        thread = i // thread_length
        yield MessageRecord(
            external_id=f"syn-{seed}-{i}@synthetic.example",
            thread_key=f"syn-{seed}-thread-{thread}@synthetic.example",
            subject=f"Thread {thread}: {' '.join(rng.choices(_WORDS, k=4))}",
            body=" ".join(rng.choices(_WORDS, k=24)),
            sent_at=EPOCH - dt.timedelta(minutes=7 * i + rng.randrange(7)),
            direction="out" if outgoing else "in",
            counterpart_email=f"person{person}@synthetic.example",
            counterpart_name=f"Person {person}",
            source_index=i,
        )


async def synthetic_batches(
    count: int, *, batch_size: int = DEFAULT_BATCH_SIZE, **options
) -> AsyncIterator[SourceBatch[MessageRecord]]:
    batch: list[MessageRecord] = []
    for record in messages(count, **options):
        batch.append(record)
        if len(batch) == batch_size:
            yield SourceBatch(records=batch)
            batch = []
    if batch:
        yield SourceBatch(records=batch)


def write_mbox(out: BinaryIO, count: int, **options) -> None:
    """The same messages as an mbox file (the user's own address is OWN_ADDRESS)."""
    for r in messages(count, **options):
        sender, recipient = (
            (OWN_ADDRESS, r.counterpart_email) if r.direction == "out" else (r.counterpart_email, OWN_ADDRESS)
        )
        out.write(
            f"From {sender} {r.sent_at:%a %b %d %H:%M:%S %Y}\n"
            f"Date: {format_datetime(r.sent_at)}\n"
            f"Message-ID: <{r.external_id}>\n"
            f"References: <{r.thread_key}>\n"
            f"Subject: {r.subject}\n"
            f"From: {r.counterpart_name if r.direction == 'in' else 'Me'} <{sender}>\n"
            f"To: <{recipient}>\n"
            f"Content-Type: text/plain; charset=utf-8\n\n"
            f"{r.body}\n\n".encode()
        )
