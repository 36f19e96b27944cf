"""The import source parsers: exact records from real-format files, per-record errors,
`since`, format errors, and bounded batches read incrementally. No database."""

from __future__ import annotations

import datetime as dt
import io
import random
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from kith.sync.sources import (
    SOURCES,
    ContactRecord,
    MentionRecord,
    MessageRecord,
    PostalAddress,
    RecordError,
    RelatedPerson,
    SourceBatch,
    SourceFormatError,
    normalize_linkedin_url,
    parse_linkedin_json,
    read_feed,
    read_linkedin_csv,
    read_mbox,
    read_vcards,
)

DATA = Path(__file__).resolve().parent.parent / "data"
UTC = dt.UTC
OWN = {"me@gmail.com", "Me.Alias@Example.org"}


async def collect(batches: AsyncIterator[SourceBatch]) -> list[SourceBatch]:
    return [batch async for batch in batches]


def merged(batches: list[SourceBatch]) -> SourceBatch:
    return SourceBatch(
        records=[r for b in batches for r in b.records],
        errors=[e for b in batches for e in b.errors],
        skipped=sum(b.skipped for b in batches),
        duplicates=sum(b.duplicates for b in batches),
    )


def indexes(batch: SourceBatch) -> list[int]:
    return [r.source_index for r in batch.records]


def reasons(batch: SourceBatch) -> list[tuple[int, str]]:
    return [(e.source_index, e.reason) for e in batch.errors]


class CountingStream(io.BytesIO):
    """A BytesIO that remembers how far it has been read."""

    high_water = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.high_water = max(self.high_water, self.tell())
        return data

    def readline(self, size: int | None = -1) -> bytes:
        data = super().readline(size)
        self.high_water = max(self.high_water, self.tell())
        return data

    def read1(self, size: int | None = -1) -> bytes:
        data = super().read1(size)
        self.high_water = max(self.high_water, self.tell())
        return data

    def readinto(self, buffer) -> int:
        n = super().readinto(buffer)
        self.high_water = max(self.high_water, self.tell())
        return n


async def first_batch_reads_little(batches: AsyncIterator[SourceBatch], stream: CountingStream, total: int) -> None:
    """The first batch arrives after reading a small part of a large input, and batches stay bounded."""
    first = await anext(batches)
    assert 0 < stream.high_water < total / 10
    assert first.seen == 10
    sizes = [b.seen async for b in batches]
    assert max(sizes) <= 10
    assert stream.high_water == total


# -- vCard ---------------------------------------------------------------------

EXPECTED_CONTACTS = [
    ContactRecord(
        full_name="Jane Doe",
        emails=["jane.doe@example.com", "jane@acme.example"],
        phones=["+1 555-0100"],
        company="Acme, Inc.",
        department="Research",
        title="Chief Scientist",
        tags=["Friends", "Work"],
        birthday_month=2,
        birthday_day=29,
        birthday_year=1992,
        links=["http://jane.example.com/blog"],
        notes=(
            "Met at PyCon\nLikes tea, not coffee; ask about the garden. "
            "This note is long enough to be folded by the exporter."
        ),
        external_id=None,
        source_index=0,
    ),
    ContactRecord(
        full_name="Jürgen Müller",
        emails=["juergen@baeckerei.example"],
        phones=["+49 30 1234567"],
        company="Bäckerei Müller GmbH",
        birthday_month=7,
        birthday_day=14,
        birthday_year=None,
        links=["http://www.linkedin.com/in/juergenmueller"],
        notes="Backt das beste Brot der Stadt.\nKennt Oma.",
        external_id="4D2F0C3A-8B1E-4F6A-9C0D-1A2B3C4D5E6F",
        source_index=1,
    ),
    ContactRecord(
        full_name="Zoë 李小龍 Dubois",
        emails=["zoe@example.org"],
        phones=["+33-1-23-45-67-89"],
        tags=["Conference", "Friends"],
        birthday_month=2,
        birthday_day=29,
        links=["https://zoe.example.org/"],
        external_id="urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
        source_index=2,
    ),
    ContactRecord(
        full_name="Ólafur Arnalds",
        emails=["olafur@example.is"],
        phones=["+354 555 1234"],
        birthday_month=7,
        birthday_day=4,
        birthday_year=1985,
        notes="Café au lait\nsecond line",
        source_index=3,
    ),
    ContactRecord(
        full_name="only.email@example.net",
        emails=["only.email@example.net"],
        birthday_month=2,
        birthday_day=29,
        birthday_year=None,  # 1990-02-29 does not exist: the day is kept, the year dropped
        source_index=5,
    ),
    ContactRecord(
        full_name="Gabriel José García Márquez",
        emails=["gabo@example.co"],
        birthday_month=3,
        birthday_day=6,
        source_index=6,
    ),
]


async def test_vcard_file_parses_exactly() -> None:
    with (DATA / "contacts.vcf").open("rb") as stream:
        batches = await collect(read_vcards(stream))
    assert len(batches) == 1
    batch = batches[0]
    assert batch.records == EXPECTED_CONTACTS
    assert reasons(batch) == [
        (4, "card has no name (FN or N) and no email"),
        (7, "card has no END:VCARD"),
    ]
    assert batch.errors[0].excerpt == "BEGIN:VCARD\nVERSION:3.0\nTEL;TYPE=CELL:+1 555-0199\nORG:Nameless Corp"
    assert (batch.skipped, batch.duplicates) == (0, 0)
    assert batch.dropped == {"PHOTO": 1, "X-ABLABEL": 1}  # Jane's HomePage label


async def test_vcard_batches_are_bounded() -> None:
    with (DATA / "contacts.vcf").open("rb") as stream:
        batches = await collect(read_vcards(stream, batch_size=2))
    assert [b.seen for b in batches] == [2, 2, 2, 2]
    assert [indexes(b) for b in batches] == [[0, 1], [2, 3], [5], [6]]
    assert [reasons(b) for b in batches][2:] == [
        [(4, "card has no name (FN or N) and no email")],
        [(7, "card has no END:VCARD")],
    ]
    assert merged(batches).records == EXPECTED_CONTACTS


async def test_vcard_reads_incrementally() -> None:
    card = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Person %d\r\nEMAIL:p%d@example.com\r\nEND:VCARD\r\n"
    data = b"".join(card % (i, i) for i in range(2000))
    stream = CountingStream(data)
    await first_batch_reads_little(read_vcards(stream, batch_size=10), stream, len(data))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("BDAY:1990-02-28", (2, 28, 1990)),
        ("BDAY:1992-02-29", (2, 29, 1992)),
        ("BDAY:1990-02-29", (2, 29, None)),
        ("BDAY:19900228", (2, 28, 1990)),
        ("BDAY:--0229", (2, 29, None)),
        ("BDAY:--02-29", (2, 29, None)),
        ("BDAY;VALUE=date:1985-07-04T00:00:00Z", (7, 4, 1985)),
        ("BDAY;X-APPLE-OMIT-YEAR=1604:1604-12-24", (12, 24, None)),
        ("BDAY:--13-01", (None, None, None)),
        ("BDAY:2024-02-30", (None, None, None)),
        ("BDAY:next tuesday", (None, None, None)),
    ],
)
async def test_vcard_birthdays(line: str, expected: tuple) -> None:
    data = f"BEGIN:VCARD\nVERSION:3.0\nFN:B\n{line}\nEND:VCARD\n".encode()
    [batch] = await collect(read_vcards(io.BytesIO(data)))
    [record] = batch.records
    assert (record.birthday_month, record.birthday_day, record.birthday_year) == expected


async def test_vcard_duplicate_uid_and_junk_between_cards() -> None:
    data = (
        b"\xef\xbb\xbfBEGIN:VCARD\nVERSION:3.0\nFN:A\nUID:same\nEND:VCARD\n"
        b"junk between cards\n\n"
        b"BEGIN:VCARD\nVERSION:3.0\nFN:A again\nUID:same\nEND:VCARD\n"
        b"begin:vcard\nversion:3.0\nfn:lower case\nend:vcard\n"
    )
    [batch] = await collect(read_vcards(io.BytesIO(data)))
    assert [(r.full_name, r.source_index) for r in batch.records] == [("A", 0), ("lower case", 2)]
    assert batch.duplicates == 1


async def test_vcard_oversized_card_is_an_error_but_photos_are_dropped() -> None:
    photo = b"PHOTO;ENCODING=b;TYPE=JPEG:" + b"QUJD" * 1000 + b"".join(b"\n " + b"QUJD" * 19 for _ in range(80_000))
    note = b"NOTE:" + b"x" * 1_000_000
    data = (
        b"BEGIN:VCARD\nVERSION:3.0\nFN:With photo\n" + photo + b"\nEND:VCARD\n"
        b"BEGIN:VCARD\nVERSION:3.0\nFN:Huge\n" + b"\n".join([note] * 5) + b"\nEND:VCARD\n"
    )
    [batch] = await collect(read_vcards(io.BytesIO(data)))
    assert [r.full_name for r in batch.records] == ["With photo"]
    assert [(e.source_index, e.reason.startswith("card is larger than")) for e in batch.errors] == [(1, True)]
    assert len(batch.errors[0].excerpt) <= 200
    assert batch.dropped == {"PHOTO": 1}  # said, not silent


async def test_vcard_counts_the_binary_values_it_leaves_out() -> None:
    data = (
        b"BEGIN:VCARD\nVERSION:3.0\nFN:A\nPHOTO;VALUE=uri:https://example.com/a.jpg\nitem1.LOGO;ENCODING=b:QUJD\n"
        b" QUJD\nEND:VCARD\n"
        b"BEGIN:VCARD\nVERSION:2.1\nFN:B\nPHOTO;JPEG;ENCODING=BASE64:QUJD\n QUJD\n\nNOTE:kept\nEND:VCARD\n"
        b"BEGIN:VCARD\nVERSION:3.0\nPHOTO:QUJD\nEND:VCARD\n"  # no name: an error, its photo not counted
        b"BEGIN:VCARD\nVERSION:3.0\nFN:C\nEND:VCARD\n"
    )
    [batch] = await collect(read_vcards(io.BytesIO(data)))

    assert [r.full_name for r in batch.records] == ["A", "B", "C"]
    assert batch.records[1].notes == "kept"
    assert batch.dropped == {"PHOTO": 2, "LOGO": 1}


@pytest.mark.parametrize("name", ["notvcard.vcf", "feed.rss", "takeout.mbox"])
async def test_not_a_vcard_raises_before_anything(name: str) -> None:
    with (DATA / name).open("rb") as stream:
        batches = read_vcards(stream)
        with pytest.raises(SourceFormatError, match="not a vCard file"):
            await anext(batches)


async def test_empty_vcard_file_yields_nothing() -> None:
    assert await collect(read_vcards(io.BytesIO(b"\r\n\r\n"))) == []


async def test_batch_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        await collect(read_vcards(io.BytesIO(b""), batch_size=0))


# -- mbox ----------------------------------------------------------------------

THREAD = "thread-root@example.com"
EXPECTED_MESSAGES = [
    MessageRecord(
        external_id=THREAD,
        thread_key=THREAD,
        subject="Café on Friday?",
        body="Hi!\n\nShall we meet at the café on Friday at 10?\n— Alice",
        sent_at=dt.datetime(2024, 3, 4, 8, 15, tzinfo=UTC),
        direction="in",
        counterpart_email="alice@example.com",
        counterpart_name="Alice Martin",
        source_index=0,
    ),
    MessageRecord(
        external_id="CAF=reply-1@mail.gmail.com",
        thread_key=THREAD,
        subject="Re: Café on Friday?",
        body=(
            "Friday works. See you there!\n\n"
            "On Mon, Mar 4, 2024 at 9:15 AM Alice Martin <alice@example.com> wrote:\n"
            "> Shall we meet at the café on Friday at 10?"
        ),
        sent_at=dt.datetime(2024, 3, 4, 10, 2, 11, tzinfo=UTC),
        direction="out",
        counterpart_email="alice@example.com",
        counterpart_name="Alice Martin",
        source_index=1,
    ),
    MessageRecord(
        external_id="reply-2@example.com",
        thread_key=THREAD,
        subject="Re: Café on Friday?",
        body="Great, see you at the café!\n\n& bring the book <3",
        sent_at=dt.datetime(2024, 3, 5, 13, 0, tzinfo=UTC),
        direction="in",
        counterpart_email="alice@example.com",
        counterpart_name="Martin, Alice",
        source_index=2,
    ),
    MessageRecord(  # no Date header: dated by its mbox "From " line
        external_id="no-date@example.com",
        thread_key="no-date@example.com",
        subject="This message has no date",
        body="Where is my Date header?",
        sent_at=dt.datetime(2024, 3, 6, 12, 0, tzinfo=UTC),
        direction="in",
        counterpart_email="bob@example.com",
        counterpart_name="Bob",
        source_index=3,
    ),
    MessageRecord(
        external_id="sha256:ed9ab2e81b8b9a69f4866e21d9b121e33468976db447130e7b56f45eac92d214",
        thread_key="subject:holiday plans",
        subject="Fwd: [News] Holiday plans",
        body="God jul! Här är planen.",
        sent_at=dt.datetime(2023, 12, 24, 18, 30, tzinfo=UTC),
        direction="in",
        counterpart_email="bjorn@example.se",
        counterpart_name="Björn Ström",
        source_index=4,
    ),
    MessageRecord(
        external_id="note-to-self@mail.gmail.com",
        thread_key="note-to-self@mail.gmail.com",
        subject="Reminder",
        body="Call the bakery.",
        sent_at=dt.datetime(2024, 3, 8, 9, 0, tzinfo=UTC),
        direction="out",
        counterpart_email=None,
        counterpart_name=None,
        source_index=6,
    ),
]


async def test_mbox_file_parses_exactly() -> None:
    batches = await collect(read_mbox(DATA / "takeout.mbox", own_addresses=OWN))
    assert len(batches) == 1
    batch = batches[0]
    assert batch.records == EXPECTED_MESSAGES
    assert batch.errors == []
    assert batch.skipped == 1  # the message labelled Spam
    assert batch.skipped_as == {"spam or draft": 1}
    assert batch.duplicates == 0
    assert all(r.channel == "email" and r.sent_at.tzinfo is UTC for r in batch.records)


async def test_mbox_since_skips_older_messages() -> None:
    since = dt.datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
    [batch] = await collect(read_mbox(str(DATA / "takeout.mbox"), own_addresses=OWN, since=since))
    assert indexes(batch) == [1, 2, 3, 6]
    assert batch.errors == []
    assert batch.skipped == 3  # before `since`: 0 and 4; labelled Spam: 5
    assert batch.skipped_as == {"before since": 2, "spam or draft": 1}


async def test_mbox_naive_since_is_utc_and_labels_can_be_kept() -> None:
    [batch] = await collect(
        read_mbox(DATA / "takeout.mbox", own_addresses=OWN, since=dt.datetime(2024, 3, 7), skip_labels=())
    )
    assert indexes(batch) == [5, 6]
    assert batch.records[0].subject == "You won!"


async def test_mbox_batches_are_bounded() -> None:
    with (DATA / "takeout.mbox").open("rb") as stream:
        batches = await collect(read_mbox(stream, own_addresses=OWN, batch_size=2))
    assert [b.seen for b in batches] == [2, 2, 2, 1]
    assert [indexes(b) for b in batches] == [[0, 1], [2, 3], [4], [6]]
    assert [b.skipped for b in batches] == [0, 0, 1, 0]
    assert merged(batches).records == EXPECTED_MESSAGES


async def test_mbox_reads_incrementally_and_drops_repeated_message_ids() -> None:
    message = (
        b"From x@xxx Mon Mar 04 08:15:00 +0000 2024\r\n"
        b"Date: Mon, 04 Mar 2024 09:15:00 +0100\r\nFrom: a%d@example.com\r\nTo: me@gmail.com\r\n"
        b"Message-ID: <m%d@example.com>\r\nSubject: n\r\n\r\nbody\r\n\r\n"
    )
    data = b"".join(message % (i, i) for i in range(2000))
    stream = CountingStream(data)
    await first_batch_reads_little(read_mbox(stream, own_addresses=OWN, batch_size=10), stream, len(data))

    twice = (message % (1, 1)) + (message % (2, 1))
    [batch] = await collect(read_mbox(io.BytesIO(twice), own_addresses=OWN))
    assert [(r.counterpart_email, r.source_index) for r in batch.records] == [("a1@example.com", 0)]
    assert batch.duplicates == 1


async def test_mbox_bad_from_is_an_error() -> None:
    data = b"From x\nDate: Mon, 04 Mar 2024 09:15:00 +0100\nFrom: nobody\nSubject: s\n\nb\n"
    [batch] = await collect(read_mbox(io.BytesIO(data), own_addresses=OWN))
    assert reasons(batch) == [(0, "unparseable From header: 'nobody'")]


async def test_mbox_raw_8bit_headers_quoted_encoded_names_and_unknown_charsets() -> None:
    data = (
        "From x\n"
        "Date: Fri, 1 Mar 2024 12:00:00 -0000\n"
        'From: "=?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?=" <Juergen@Example.DE>\n'
        "To: me@gmail.com\n"
        "Subject: Grüße aus Köln =?x-unknown?Q?abc?=\n"
        "Message-ID: <8bit@example.de>\n"
        "Content-Type: text/plain; charset=x-unknown\n"
        "\n"
        "Schöne Grüße\n"
    ).encode()
    [batch] = await collect(read_mbox(io.BytesIO(data), own_addresses=OWN))
    [record] = batch.records
    assert record.counterpart_email == "juergen@example.de"
    assert record.counterpart_name == "Jürgen Müller"
    assert record.subject == "Grüße aus Köln =?x-unknown?Q?abc?="
    assert record.body == "Schöne Grüße"
    assert record.sent_at == dt.datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("name", ["notvcard.vcf", "contacts.vcf", "feed.rss"])
async def test_not_an_mbox_raises_before_anything(name: str) -> None:
    with pytest.raises(SourceFormatError, match="not an mbox file"):
        await anext(read_mbox(DATA / name, own_addresses=OWN))


# -- LinkedIn ------------------------------------------------------------------

EXPECTED_CONNECTIONS = [
    ContactRecord(
        full_name="Jane Doe",
        emails=["jane.doe@example.com"],
        company="Acme, Inc.",
        title="Chief Scientist",
        links=["https://www.linkedin.com/in/jane-doe-1a2b3c"],
        external_id="https://www.linkedin.com/in/jane-doe-1a2b3c",
        connected_on=dt.date(2024, 3, 5),
        source_index=0,
    ),
    ContactRecord(
        full_name="Jürgen Müller",
        emails=[],
        company="Bäckerei Müller GmbH",
        title="Owner",
        links=["https://www.linkedin.com/in/juergen-mueller"],
        external_id="https://www.linkedin.com/in/juergen-mueller",
        connected_on=dt.date(2021, 1, 12),
        source_index=1,
    ),
    ContactRecord(
        full_name="Zoë 李",
        emails=["zoe@example.org"],
        company="Example SARL",
        title='Head of "Growth"',
        links=["https://www.linkedin.com/in/zo%C3%AB-li"],
        external_id="https://www.linkedin.com/in/zo%C3%AB-li",
        connected_on=dt.date(2024, 2, 29),
        source_index=3,
    ),
]
BAD_DATE = (2, "line 7: unparseable Connected On date: '31 Foo 2024'")


async def test_linkedin_csv_parses_exactly() -> None:
    with (DATA / "Connections.csv").open(newline="", encoding="utf-8") as stream:
        [batch] = await collect(read_linkedin_csv(stream))
    assert batch.records == EXPECTED_CONNECTIONS
    assert reasons(batch) == [BAD_DATE]
    assert batch.errors[0].excerpt == (
        "Sam,Bad-Date,https://www.linkedin.com/in/sam-bad-date,,Nowhere Ltd,Intern,31 Foo 2024"
    )
    assert (batch.skipped, batch.duplicates) == (0, 0)


async def test_linkedin_csv_since_filters_on_connected_on() -> None:
    with (DATA / "Connections.csv").open("rb") as stream:  # a binary stream is read as UTF-8
        [batch] = await collect(read_linkedin_csv(stream, since=dt.datetime(2024, 2, 29, 23, 0, tzinfo=UTC)))
    assert indexes(batch) == [0, 3]  # 29 Feb 2024 is on the day of `since`: kept
    assert reasons(batch) == [BAD_DATE]
    assert batch.skipped == 1


def connections_csv(days: list[dt.date]) -> bytes:
    rows = "".join(f"P{i},Q,https://www.linkedin.com/in/p{i},,Co,Role,{day:%d %b %Y}\n" for i, day in enumerate(days))
    return ("First Name,Last Name,URL,Email Address,Company,Position,Connected On\n" + rows).encode()


DAYS = [dt.date(2024, 12, 31) - dt.timedelta(days=n) for n in range(400)]  # newest first, as LinkedIn writes it
SINCE = dt.datetime(2024, 9, 1, tzinfo=UTC)
IN_WINDOW = sum(day >= SINCE.date() for day in DAYS)  # 122


async def test_linkedin_csv_newest_first_stops_once_past_since() -> None:
    batch = merged(await collect(read_linkedin_csv(io.BytesIO(connections_csv(DAYS)), since=SINCE, batch_size=50)))
    # 100 connections in a row older than `since`, never newer than the one before: the rest is not read.
    assert (len(batch.records), batch.skipped, batch.seen) == (IN_WINDOW, 100, IN_WINDOW + 100)


@pytest.mark.parametrize("order", ["oldest first", "shuffled"])
async def test_linkedin_csv_in_another_order_is_read_to_the_end(order: str) -> None:
    days = DAYS[::-1] if order == "oldest first" else random.Random(5).sample(DAYS, len(DAYS))
    batch = merged(await collect(read_linkedin_csv(io.BytesIO(connections_csv(days)), since=SINCE)))
    assert (len(batch.records), batch.seen) == (IN_WINDOW, len(DAYS))


def rss(days: list[dt.date]) -> bytes:
    items = "".join(
        f"<item><title>Item {i}</title><link>https://news.example/{i}</link>"
        f"<pubDate>{day:%a, %d %b %Y} 12:00:00 GMT</pubDate></item>"
        for i, day in enumerate(days)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>{items}</channel></rss>'.encode()


@pytest.mark.parametrize(("days", "seen"), [(DAYS, IN_WINDOW + 100), (DAYS[::-1], len(DAYS))])
async def test_feed_newest_first_stops_once_past_since(days: list[dt.date], seen: int) -> None:
    batch = merged(await collect(read_feed(io.BytesIO(rss(days)), since=SINCE, batch_size=50)))
    assert (len(batch.records), batch.seen) == (IN_WINDOW, seen)


async def test_linkedin_csv_batches_are_bounded() -> None:
    with (DATA / "Connections.csv").open(newline="", encoding="utf-8") as stream:
        batches = await collect(read_linkedin_csv(stream, batch_size=2))
    assert [b.seen for b in batches] == [2, 2]
    assert [indexes(b) for b in batches] == [[0, 1], [3]]
    assert merged(batches).records == EXPECTED_CONNECTIONS


async def test_linkedin_csv_without_notes_with_bom_and_reordered_columns() -> None:
    rows = [
        "\ufeffURL,First Name,Last Name,Connected On,Company",
        "https://uk.linkedin.com/in/Ann-B/,Ann,B,1 Jan 2020,",
        "https://www.linkedin.com/in/ann-b?trk=x,Ann,B (again),2 Jan 2020,",
        ",,,3 Jan 2020,Ghost Inc",
    ]
    data = "\r\n".join(rows).encode()
    stream = CountingStream(data)
    [batch] = await collect(read_linkedin_csv(stream))
    assert not stream.closed  # the caller's stream is left open
    assert [(r.full_name, r.external_id, r.connected_on, r.company) for r in batch.records] == [
        ("Ann B", "https://www.linkedin.com/in/ann-b", dt.date(2020, 1, 1), None)
    ]
    assert batch.duplicates == 1
    assert reasons(batch) == [(2, "line 4: connection has no name and no email")]


async def test_linkedin_csv_reads_incrementally() -> None:
    header = "First Name,Last Name,URL,Email Address,Company,Position,Connected On\n"
    data = (header + "".join(f"P{i},L,https://www.linkedin.com/in/p{i},,,,05 Mar 2024\n" for i in range(3000))).encode()
    stream = CountingStream(data)
    batches = read_linkedin_csv(stream, batch_size=10)
    await first_batch_reads_little(batches, stream, len(data))


@pytest.mark.parametrize("name", ["notvcard.vcf", "contacts.vcf", "feed.atom"])
async def test_not_a_linkedin_csv_raises_before_anything(name: str) -> None:
    with (
        (DATA / name).open(newline="", encoding="utf-8") as stream,
        pytest.raises(SourceFormatError, match="not a LinkedIn connections CSV"),
    ):
        await anext(read_linkedin_csv(stream))


def test_linkedin_json_validates_items() -> None:
    items = [
        {
            "first_name": " Jane ",
            "last_name": "Doe",
            "url": "https://WWW.LinkedIn.com/in/Jane-Doe-1a2b3c/?trk=people",
            "email_address": " JANE.DOE@example.com",
            "company": "Acme, Inc.",
            "position": "Chief Scientist",
            "connected_on": "05 Mar 2024",
            "ignored": True,
        },
        {"first_name": 42, "last_name": "Doe"},
        "not an object",
        {"first_name": "Old", "connected_on": "2020-01-01"},
        {"first_name": "Bad", "connected_on": "yesterday"},
        {"first_name": None, "email_address": "only@example.com", "connected_on": None},
        {},
    ]
    batch = parse_linkedin_json(items, since=dt.date(2024, 1, 1), start_index=100)
    assert batch.records == [
        msgspec.structs.replace(EXPECTED_CONNECTIONS[0], source_index=100),
        ContactRecord(full_name="only@example.com", emails=["only@example.com"], source_index=105),
    ]
    assert reasons(batch) == [
        (101, "invalid connection: Expected `str | null`, got `int` - at `$.first_name`"),
        (102, "invalid connection: Expected `object`, got `str`"),
        (104, "unparseable Connected On date: 'yesterday'"),
        (106, "connection has no name and no email"),
    ]
    assert batch.errors[0].excerpt == '{"first_name":42,"last_name":"Doe"}'
    assert batch.skipped == 1


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.linkedin.com/in/jane-doe", "https://www.linkedin.com/in/jane-doe"),
        ("http://LinkedIn.com/in/Jane-Doe/", "https://www.linkedin.com/in/jane-doe"),
        ("www.linkedin.com/in/jane-doe?trk=abc#x", "https://www.linkedin.com/in/jane-doe"),
        ("https://de.linkedin.com/in/J%C3%BCrgen/", "https://www.linkedin.com/in/j%C3%BCrgen"),
        ("https://www.linkedin.com/in/jürgen", "https://www.linkedin.com/in/j%C3%BCrgen"),
        ("https://www.linkedin.com/pub/jane-doe/1a/2b/3c/", "https://www.linkedin.com/pub/jane-doe/1a/2b/3c"),
        ("https://Example.com/Profile/?q=1", "https://example.com/Profile"),
        ("  ", None),
        (None, None),
        ("x[y", None),  # urlsplit: "Invalid IPv6 URL"
        ("https://[::1", None),
    ],
)
def test_normalize_linkedin_url(url: str | None, expected: str | None) -> None:
    assert normalize_linkedin_url(url) == expected


# -- RSS / Atom ----------------------------------------------------------------

EXPECTED_RSS = [
    MentionRecord(
        dedupe_key="tag:news.example.com,2024:acme-funding",
        title="Acme, Inc. raises $20M",
        link="https://news.example.com/2024/03/acme-funding?utm_source=rss",
        summary="Acme & partners closed a $20M round.",
        published_at=dt.datetime(2024, 3, 5, 14, 30, tzinfo=UTC),
        source_index=0,
    ),
    MentionRecord(
        dedupe_key="https://news.example.com/2024/03/baeckerei",
        title="Bäckerei Müller opens a second shop",
        link="https://news.example.com/2024/03/baeckerei",
        summary="The Bäckerei Müller GmbH opens in Kreuzberg.",
        published_at=dt.datetime(2024, 3, 4, 9, 0, tzinfo=UTC),
        source_index=1,
    ),
    MentionRecord(
        dedupe_key="https://news.example.com/2024/02/example-sarl",
        title="Example SARL hires a head of growth",
        link="https://news.example.com/2024/02/example-sarl",
        summary="Zoë Li joins Example SARL.",
        published_at=dt.datetime(2024, 2, 20, 8, 0, tzinfo=UTC),
        source_index=4,
    ),
    MentionRecord(
        dedupe_key="https://news.example.com/2023/06/old",
        title="Old news",
        link="https://news.example.com/2023/06/old",
        summary=None,
        published_at=dt.datetime(2023, 6, 15, 12, 0, tzinfo=UTC),
        source_index=5,
    ),
    MentionRecord(
        dedupe_key="https://news.example.com/#4711",  # a guid that is no URI, qualified by the feed's link
        title="Numbered item without a date",
        link="https://news.example.com/?p=4711",
        summary=None,
        published_at=None,
        source_index=6,
    ),
]

EXPECTED_ATOM = [
    MentionRecord(
        dedupe_key="tag:blog.example.org,2024:zoe",
        title="Zoë joins Example SARL",
        link="https://blog.example.org/2024/03/zoe",
        summary="Our new head of growth starts Monday.",
        published_at=dt.datetime(2024, 3, 6, 9, 0, tzinfo=UTC),
        source_index=0,
    ),
    MentionRecord(
        dedupe_key="tag:blog.example.org,2024:q1",
        title="Quarterly update",
        link="https://blog.example.org/2024/03/q1",
        summary="Revenue is up.",
        published_at=dt.datetime(2024, 3, 1, tzinfo=UTC),
        source_index=1,
    ),
    MentionRecord(
        dedupe_key="https://blog.example.org/2023/11/party",
        title="Last year's party",
        link="https://blog.example.org/2023/11/party",
        summary=None,
        published_at=dt.datetime(2023, 11, 30, 18, 0, tzinfo=UTC),
        source_index=4,
    ),
]


async def test_rss_file_parses_exactly() -> None:
    with (DATA / "feed.rss").open("rb") as stream:
        [batch] = await collect(read_feed(stream))
    assert batch.records == EXPECTED_RSS
    assert reasons(batch) == [(3, "item has no guid/id and no link")]
    assert batch.errors[0].excerpt.startswith("<item>\n      <title>Press release without a link</title>")
    assert batch.duplicates == 1  # item 2 repeats item 0's guid
    assert batch.skipped == 0


async def test_atom_file_parses_exactly() -> None:
    with (DATA / "feed.atom").open("rb") as stream:
        [batch] = await collect(read_feed(stream))
    assert batch.records == EXPECTED_ATOM
    assert reasons(batch) == [(3, "item has no guid/id and no link")]
    assert batch.duplicates == 1


@pytest.mark.parametrize(("name", "kept", "skipped"), [("feed.rss", [0, 1, 4, 6], 1), ("feed.atom", [0, 1], 1)])
async def test_feed_since(name: str, kept: list[int], skipped: int) -> None:
    with (DATA / name).open("rb") as stream:
        [batch] = await collect(read_feed(stream, since=dt.datetime(2024, 1, 1, tzinfo=UTC)))
    assert indexes(batch) == kept  # an undated item is kept
    assert batch.skipped == skipped


async def test_feed_batches_are_bounded() -> None:
    with (DATA / "feed.rss").open("rb") as stream:
        batches = await collect(read_feed(stream, batch_size=2))
    assert [b.seen for b in batches] == [2, 2, 2, 1]
    assert [indexes(b) for b in batches] == [[0, 1], [], [4, 5], [6]]
    assert (batches[1].duplicates, reasons(batches[1])) == (1, [(3, "item has no guid/id and no link")])
    assert merged(batches).records == EXPECTED_RSS


async def test_feed_reads_incrementally() -> None:
    items = "".join(
        f"<item><title>T{i}</title><link>https://e.example/{i}</link><description>{'d' * 200}</description></item>"
        for i in range(5000)
    )
    data = f'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>{items}</channel></rss>'.encode()
    stream = CountingStream(data)
    await first_batch_reads_little(read_feed(stream, batch_size=10), stream, len(data))


async def test_rss_1_0_rdf_feed() -> None:
    data = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://r.example/"><title>R</title><link>https://r.example/</link></channel>
  <item rdf:about="https://r.example/1">
    <title>One</title><link>https://r.example/1</link>
    <description>First &lt;i&gt;item&lt;/i&gt;</description><dc:date>2024-03-01</dc:date>
  </item>
</rdf:RDF>"""
    [batch] = await collect(read_feed(io.BytesIO(data)))
    assert batch.records == [
        MentionRecord(
            dedupe_key="https://r.example/1",
            title="One",
            link="https://r.example/1",
            summary="First item",
            published_at=dt.datetime(2024, 3, 1, tzinfo=UTC),
            source_index=0,
        )
    ]


async def test_feed_broken_after_the_root_keeps_earlier_items() -> None:
    data = (
        b'<rss version="2.0"><channel><link>https://n.example/</link>'
        b"<item><title>Fine</title><guid>1</guid></item>"
        b"<item><title>Broken &nbsp; entity</title></item></channel></rss>"
    )
    [batch] = await collect(read_feed(io.BytesIO(data)))
    assert [(r.dedupe_key, r.title) for r in batch.records] == [("https://n.example/#1", "Fine")]
    [error] = batch.errors
    assert error.source_index == 1
    assert error.reason.startswith("feed is not well-formed XML after this point: undefined entity")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("notafeed.rss", "its root element is <html>"),
        ("notvcard.vcf", "not well-formed XML"),
        ("contacts.vcf", "not well-formed XML"),
    ],
)
async def test_not_a_feed_raises_before_anything(name: str, message: str) -> None:
    with (DATA / name).open("rb") as stream, pytest.raises(SourceFormatError, match=message):
        await anext(read_feed(stream))


async def test_empty_feed_is_not_a_feed() -> None:
    with pytest.raises(SourceFormatError):
        await anext(read_feed(io.BytesIO(b"")))


# -- registry ------------------------------------------------------------------


def test_sources_registry() -> None:
    assert set(SOURCES) == {"vcard", "mbox", "linkedin", "contacts_csv", "rss"}
    assert SOURCES["vcard"].reader is read_vcards
    assert SOURCES["mbox"].reader is read_mbox
    assert SOURCES["linkedin"].reader is read_linkedin_csv
    assert SOURCES["linkedin"].json_parser is parse_linkedin_json
    assert SOURCES["rss"].reader is read_feed
    assert SOURCES["mbox"].record_type is MessageRecord
    assert RecordError(source_index=0, reason="r", excerpt="e").excerpt == "e"


async def test_vcard_keeps_what_apple_contacts_exports() -> None:
    """ADR, NICKNAME, related names, ORG units and their labels are kept; what Kith has no place for is counted."""
    with (DATA / "apple_contacts.vcf").open("rb") as stream:
        [batch] = await collect(read_vcards(stream))
    johnny, phone_only, ana = batch.records
    assert johnny == ContactRecord(
        full_name="Dr. Johnny Q. Appleseed Jr.",
        nickname="Johnny Boy",
        emails=["johnny@apple.example", "johnny@home.example"],
        phones=["+1 (408) 555-0101"],
        company="Apple Inc.",
        department="Hardware Engineering / Displays",
        title="Senior Engineer",
        birthday_month=3,
        birthday_day=15,
        birthday_year=None,  # Apple's 1604: a birthday without a year
        # http and https forms of one URL are one link (the https one)
        links=["https://johnny.example.com", "https://twitter.com/johnnyq"],
        addresses=[
            PostalAddress(
                label="home",
                extended="Apt 4",
                street="1 Infinite Loop",
                locality="Cupertino",
                region="CA",
                postal_code="95014",
                country="United States",
            ),
            PostalAddress(
                label="work", street="One Apple Park Way", locality="Cupertino", region="CA", postal_code="95014"
            ),
        ],
        related=[
            RelatedPerson(name="Jane Appleseed", relation="spouse"),
            RelatedPerson(name="Bobby", relation="godson"),
        ],
        external_id="7B5A8E2C-1D3F-4A6B-9C8D-0E1F2A3B4C5D",
        source_index=0,
    )
    assert (ana.nickname, ana.birthday_month, ana.birthday_day, ana.birthday_year) == ("Aninha, Ana", 11, 2, None)
    assert ana.related == [RelatedPerson(name="Pedro Lima", relation="child")]
    assert ana.addresses == [
        PostalAddress(
            label="work",
            street="Av. Paulista, 1000",
            locality="São Paulo",
            region="SP",
            postal_code="01310-100",
            country="Brasil",
        )
    ]
    # A card with nothing but a phone number (in international form: a key) is a contact.
    assert (phone_only.full_name, phone_only.phones, phone_only.emails) == ("+44 7700 900123", ["+44 7700 900123"], [])
    assert batch.errors == []
    # Labels of emails and links, an anniversary, an IM handle, a RELATED that points at another card: counted.
    assert batch.dropped == {"X-ABLABEL": 3, "X-ABDATE": 1, "IMPP": 1, "RELATED": 1}
