"""Newsletters, mailing lists and notifications are not people: no contact, no reply owed, counted on the run;
a tenant's setting imports them anyway. And a message without a Date header is dated by its mbox "From " line."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from tests.sync.test_pipeline import run_import

from kith.sync.sources import bulk_mail_reason, read_mbox
from kith.sync.sources.mbox import envelope_date


@pytest.mark.parametrize(
    ("headers", "sender", "reason"),
    [
        ({"list-id": "Python announcements <python-announce.python.org>"}, "guido@python.org", "List-Id"),
        ({"list-unsubscribe": "<mailto:unsub@news.example>"}, "editor@news.example", "List-Unsubscribe"),
        ({"precedence": "bulk"}, "shop@example.com", "Precedence: bulk"),
        ({"precedence": " List "}, "a@example.com", "Precedence: list"),
        ({"precedence": "junk"}, "a@example.com", "Precedence: junk"),
        ({}, "noreply@github.com", "no-reply sender"),
        ({}, "no-reply@accounts.google.com", "no-reply sender"),
        ({}, "do_not_reply@apple.com", "no-reply sender"),
        ({}, "DoNotReply@bank.example", "no-reply sender"),
        ({}, "notifications@github.com", "no-reply sender"),
        ({}, "notification+kjdhf@facebookmail.com", "no-reply sender"),
        ({}, "MAILER-DAEMON@mx.example", "no-reply sender"),
        # People, and people's tools.
        ({}, "alice@example.com", None),
        ({}, "notifyme@example.com", None),
        ({}, "noreen@example.com", None),
        ({"precedence": "first-class"}, "bob@example.com", None),
        ({"list-id": ""}, "bob@example.com", None),
        ({}, None, None),
    ],
)
def test_bulk_mail_reason(headers, sender, reason) -> None:
    assert bulk_mail_reason(headers, sender) == reason


def message(n: int, sender: str, headers: str = "", date: str | None = "Mon, 04 Mar 2024 09:00:00 +0000") -> str:
    date_line = f"Date: {date}\n" if date else ""
    return (
        f"From x@xxx Mon Mar 04 08:{n:02d}:00 +0000 2024\n{date_line}Message-ID: <m{n}@example.com>\n"
        f"Subject: Message {n}\nFrom: Sender {n} <{sender}>\nTo: me@gmail.com\n{headers}"
        f"Content-Type: text/plain; charset=utf-8\n\nHello {n}\n\n"
    )


MAILBOX = (
    message(0, "alice@example.com")
    + message(1, "editor@news.example", "List-Id: <weekly.news.example>\nList-Unsubscribe: <https://u.example>\n")
    + message(2, "noreply@github.com")
    + message(3, "deals@shop.example", "Precedence: bulk\n", date=None)  # bulk before dated: no error
    + message(4, "bob@example.com", date=None)  # dated by its From line
).encode()


async def test_mbox_skips_bulk_mail_and_counts_it() -> None:
    batches = [b async for b in read_mbox(io.BytesIO(MAILBOX), own_addresses=["me@gmail.com"])]
    records = [r for b in batches for r in b.records]
    assert [r.counterpart_email for r in records] == ["alice@example.com", "bob@example.com"]
    assert records[1].sent_at == dt.datetime(2024, 3, 4, 8, 4, tzinfo=dt.UTC)
    assert sum(b.skipped for b in batches) == 3
    assert batches[0].skipped_as == {"bulk mail": 3}
    assert all(not b.errors for b in batches)

    kept = [b async for b in read_mbox(io.BytesIO(MAILBOX), own_addresses=["me@gmail.com"], skip_bulk_mail=False)]
    assert len([r for b in kept for r in b.records]) == 5


@pytest.mark.parametrize(
    ("line", "when"),
    [
        (b"From 1792384728394857293@xxx Mon Mar 04 08:15:00 +0000 2024\n", dt.datetime(2024, 3, 4, 8, 15)),
        (b"From MAILER-DAEMON Fri Jul  8 12:08:34 2011\n", dt.datetime(2011, 7, 8, 12, 8, 34)),
        (b"From - Thu Aug 19 14:40:32 2021\r\n", dt.datetime(2021, 8, 19, 14, 40, 32)),
        (b"From a@b Sat Jan  3 01:05:34 1996 -0500\n", dt.datetime(1996, 1, 3, 6, 5, 34)),
        (b"From a@b Sat Jan  3 01:05 PST 1996\n", dt.datetime(1996, 1, 3, 1, 5)),
        (b"From a@b\n", None),
        (b"From a@b Sat Foo  3 01:05:34 1996\n", None),
    ],
)
def test_envelope_date(line: bytes, when: dt.datetime | None) -> None:
    assert envelope_date(line) == (when.replace(tzinfo=dt.UTC) if when else None)


async def test_a_run_makes_no_contact_of_bulk_mail_unless_the_tenant_says_so(engine, conn, make_tenant):
    tenant = await make_tenant()
    run = await run_import(engine, tenant, "mbox", MAILBOX)
    assert (run.rows_inserted, run.rows_skipped, run.rows_failed) == (2, 3, 0)
    assert run.stages["sync"]["skipped"] == {"bulk mail": 3}
    contacts = await conn.fetch("SELECT emails FROM contacts WHERE tenant_id = $1 ORDER BY id", tenant.id)
    assert [c["emails"] for c in contacts] == [["alice@example.com"], ["bob@example.com"]]

    other = await make_tenant()
    await conn.execute("UPDATE tenants SET skip_bulk_mail = false WHERE id = $1", other.id)
    run = await run_import(engine, other, "mbox", MAILBOX)
    assert (run.rows_inserted, run.rows_skipped) == (5, 0)
    assert run.stages["sync"]["skipped"] == {}
    assert await conn.fetchval("SELECT count(*) FROM contacts WHERE tenant_id = $1", other.id) == 5


def mail(n: int, sender: str, to: str, subject: str, date: str, extra: str = "") -> str:
    return (
        f"From x@xxx Mon Mar 04 08:00:00 +0000 2024\nDate: {date}\nMessage-ID: <t{n}@example.com>\n"
        f"Subject: {subject}\nFrom: {sender}\nTo: {to}\n{extra}Content-Type: text/plain\n\nText {n}\n\n"
    )


async def test_a_reply_without_references_joins_its_thread_by_subject_and_people() -> None:
    mailbox = (
        mail(0, "Alice <alice@example.com>", "me@gmail.com", "Dinner plans", "Mon, 04 Mar 2024 09:00:00 +0000")
        + mail(1, "me@gmail.com", "alice@example.com", "Re: Dinner plans", "Mon, 04 Mar 2024 10:00:00 +0000")
        + mail(2, "alice@example.com", "me@gmail.com", "RE: Re: dinner  plans", "Tue, 05 Mar 2024 08:00:00 +0000")
        # Same subject, someone else: another conversation.
        + mail(3, "bob@example.com", "me@gmail.com", "Re: Dinner plans", "Tue, 05 Mar 2024 09:00:00 +0000")
        # Months later: a new conversation, even with the same people.
        + mail(4, "alice@example.com", "me@gmail.com", "Re: Dinner plans", "Mon, 01 Jul 2024 09:00:00 +0000")
        # References win over the subject.
        + mail(
            5,
            "alice@example.com",
            "me@gmail.com",
            "Re: Dinner plans",
            "Tue, 05 Mar 2024 10:00:00 +0000",
            "In-Reply-To: <elsewhere@example.com>\n",
        )
    ).encode()
    [batch] = [b async for b in read_mbox(io.BytesIO(mailbox), own_addresses=["me@gmail.com"])]
    threads = [r.thread_key for r in batch.records]
    assert threads == [
        "t0@example.com",
        "t0@example.com",
        "t0@example.com",
        "t3@example.com",
        "t4@example.com",
        "elsewhere@example.com",
    ]
