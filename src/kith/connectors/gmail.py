"""Gmail (API v1) as a connector source: message metadata in pages, then only the changes.

First sync: `users.getProfile` for the mailbox's current `historyId`, then `users.messages.list`
(500 ids a page, `q=after:` for the connection's days_back), each page's messages fetched with
`format=metadata` (headers only) a bounded number at a time; each page is a step, checkpointed with
the next page token, and the last one stores the history id. Metadata is fetched 50 messages to a batch request
(Google's `/batch/gmail/v1`), a few batches at a time. Later syncs: `users.history.list` from
that id (messages added and deleted), a page a step; a 404 (the id is too old) falls back to a full
sync, said on the run. Mail from lists and no-reply senders is skipped (kith.sync.sources.bulk_mail),
as are drafts, spam and trash; messages are keyed by Gmail's id (a deletion names only that).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import html
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

from kith.connectors.api_client import ApiClient, ApiError, is_retried
from kith.connectors.steps import Step
from kith.sync.sources import MessageRecord, RecordError, SourceBatch
from kith.sync.sources._common import normalize_email
from kith.sync.sources.bulk_mail import bulk_mail_reason, unattended_address
from kith.sync.sources.mbox import BULK_MAIL, LABELLED

METADATA_HEADERS = (
    "From",
    "To",
    "Cc",
    "Date",
    "Subject",
    "Message-ID",
    "References",
    "List-Id",
    "List-Unsubscribe",
    "Precedence",
)
METADATA_QUERY = urlencode([("format", "metadata"), *(("metadataHeaders", h) for h in METADATA_HEADERS)])
SKIPPED_LABELS = frozenset({"DRAFT", "SPAM", "TRASH"})
PAGE_SIZE = 500
# Messages fetched per batch request: Google allows 100, and advises Gmail clients to stay under 50.
BATCH_REQUESTS = 50


def _addresses(value: str | None) -> list[tuple[str | None, str]]:
    """(display name or None, normalized address) of each address in a header."""
    found = []
    for name, address in email.utils.getaddresses([value or ""]):
        if normalized := normalize_email(address):
            found.append((name.strip() or None, normalized))
    return found


def message_record(
    message: dict[str, Any], own: frozenset[str], index: int, skip_bulk_mail: bool = True
) -> MessageRecord | RecordError | str:
    """A Gmail message (format=metadata) as a record, or why it is skipped (as mbox names it: drafts, bulk mail)."""
    labels = set(message.get("labelIds") or ())
    if labels & SKIPPED_LABELS:
        return LABELLED
    headers = {h["name"].lower(): h["value"] for h in (message.get("payload") or {}).get("headers") or ()}
    senders = _addresses(headers.get("from"))
    sender = senders[0][1] if senders else None
    if skip_bulk_mail and bulk_mail_reason(headers, sender):
        return BULK_MAIL
    try:
        sent_at = dt.datetime.fromtimestamp(int(message["internalDate"]) / 1000, dt.UTC)
        message_id, thread_id = str(message["id"]), str(message["threadId"])
    except (KeyError, TypeError, ValueError):
        return RecordError(source_index=index, reason="message without id, thread or date", excerpt=str(message)[:200])
    outgoing = "SENT" in labels or sender in own
    # The people it is with, as an mbox message's (kith.sync.sources.mbox): the sender of a message received,
    # then To and Cc, but the user's addresses and (under the bulk mail rule) those nobody reads. The first
    # is its counterpart, the others its participants.
    people: dict[str, str | None] = {}
    for name, address in [
        *(senders if not outgoing else ()),
        *_addresses(headers.get("to")),
        *_addresses(headers.get("cc")),
    ]:
        if address in own or (skip_bulk_mail and unattended_address(address)):
            continue
        if people.get(address) is None:
            people[address] = name
    counterpart = next(((name, address) for address, name in people.items()), (None, None))
    return MessageRecord(
        external_id=message_id,
        thread_key=thread_id,
        subject=headers.get("subject"),
        body=html.unescape(message.get("snippet") or ""),
        sent_at=sent_at,
        direction="out" if outgoing else "in",
        counterpart_email=counterpart[1],
        counterpart_name=counterpart[0],
        participants=[(address, name) for address, name in people.items() if address != counterpart[1]],
        source_index=index,
    )


class GmailSource:
    key = "gmail"

    def __init__(
        self,
        api: ApiClient,
        base_url: str,
        account: str,
        days_back: int | None,
        concurrency: int,
        skip_bulk_mail: bool = True,
    ) -> None:
        self.api = api
        self.skip_bulk_mail = skip_bulk_mail
        self.path = "/gmail/v1/users/me"
        self.base = f"{base_url}{self.path}"
        self.batch_url = f"{base_url}/batch/gmail/v1"
        self.own = frozenset({account.lower()})
        self.days_back = days_back
        self.limit = asyncio.Semaphore(concurrency)
        self.index = 0

    async def steps(self, checkpoint: dict[str, Any]) -> AsyncIterator[Step]:
        if "history_id" in checkpoint and "full" not in checkpoint:
            try:
                async for step in self._changes(checkpoint["history_id"], checkpoint.get("page_token")):
                    yield step
                return
            except ApiError as exc:
                if exc.status != 404:
                    raise
            yield Step(None, {}, note=f"gmail: history id {checkpoint['history_id']} expired (404): full sync")
            checkpoint = {}
        async for step in self._full(checkpoint.get("full")):
            yield step

    async def _full(self, resume: dict[str, Any] | None) -> AsyncIterator[Step]:
        if resume is None:
            profile = await self.api.get_json(f"{self.base}/profile")
            after = None
            if self.days_back:
                after = int((dt.datetime.now(dt.UTC) - dt.timedelta(days=self.days_back)).timestamp())
            resume = {"history_id": str(profile["historyId"]), "page_token": None, "after": after}
        while True:
            params: dict[str, Any] = {"maxResults": PAGE_SIZE}
            if resume["after"]:
                params["q"] = f"after:{resume['after']}"
            if resume["page_token"]:
                params["pageToken"] = resume["page_token"]
            page = await self.api.get_json(f"{self.base}/messages", params)
            batch = await self._fetch([m["id"] for m in page.get("messages") or ()])
            if next_token := page.get("nextPageToken"):
                resume = {**resume, "page_token": next_token}
                yield Step(batch, {"full": resume})
            else:
                yield Step(batch, {"history_id": resume["history_id"]})
                return

    async def _changes(self, history_id: str, page_token: str | None) -> AsyncIterator[Step]:
        while True:
            params: dict[str, Any] = {
                "startHistoryId": history_id,
                "historyTypes": ["messageAdded", "messageDeleted"],
                "maxResults": PAGE_SIZE,
            }
            if page_token:
                params["pageToken"] = page_token
            page = await self.api.get_json(f"{self.base}/history", params)
            added: dict[str, None] = {}
            deleted: set[str] = set()
            for record in page.get("history") or ():
                for item in record.get("messagesAdded") or ():
                    added[item["message"]["id"]] = None
                for item in record.get("messagesDeleted") or ():
                    deleted.add(item["message"]["id"])
            batch = await self._fetch([i for i in added if i not in deleted])
            if page_token := page.get("nextPageToken"):
                yield Step(batch, {"history_id": history_id, "page_token": page_token}, sorted(deleted))
            else:
                yield Step(batch, {"history_id": str(page.get("historyId") or history_id)}, sorted(deleted))
                return

    async def _get_batch(self, ids: list[str]) -> list[dict[str, Any] | None]:
        """The messages (None: deleted since listed), in one batch request; the parts refused for a rate
        limit or a blip are asked again, in a smaller batch, after a backoff."""
        found: dict[str, dict[str, Any] | None] = {}
        pending, attempt = ids, 0
        while pending:
            async with self.limit:
                answers = await self.api.batch(
                    self.batch_url, [f"{self.path}/messages/{i}?{METADATA_QUERY}" for i in pending]
                )
            retry = []
            for message_id, (status, body) in zip(pending, answers, strict=True):
                if status == 200 and isinstance(body, dict):
                    found[message_id] = body
                elif status == 404:
                    found[message_id] = None
                elif is_retried(status, body) and attempt < self.api.settings.max_retries:
                    retry.append(message_id)
                else:
                    raise ApiError(status, body, f"{self.batch_url} ({self.path}/messages/{message_id})")
            if retry:
                await self.api.wait(attempt)
                attempt += 1
            pending = retry
        return [found[i] for i in ids]

    async def _fetch(self, ids: list[str]) -> SourceBatch:
        groups = [ids[n : n + BATCH_REQUESTS] for n in range(0, len(ids), BATCH_REQUESTS)]
        messages = [m for group in await asyncio.gather(*map(self._get_batch, groups)) for m in group]
        batch: SourceBatch = SourceBatch()
        for message in messages:
            index, self.index = self.index, self.index + 1
            if message is None:  # deleted since it was listed
                batch.skipped += 1
                continue
            record = message_record(message, self.own, index, self.skip_bulk_mail)
            if isinstance(record, str):
                batch.skipped += 1
                batch.skipped_as[record] = batch.skipped_as.get(record, 0) + 1
            elif isinstance(record, RecordError):
                batch.errors.append(record)
            else:
                batch.records.append(record)
        return batch
