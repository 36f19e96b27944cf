"""Google Calendar (API v3) as a connector source: meetings are interactions with the people met.

`events.list` on the primary calendar (`singleEvents=true`, 2,500 events a page; the first sync from
`timeMin` = days_back ago), each page a step checkpointed with the next page token; the last page's
`nextSyncToken` is stored, and later syncs send it as `syncToken` to get only the events changed since
(cancelled ones with `status: cancelled`). A 410 GONE (the token is no longer valid) falls back to a
full sync, said on the run.

Each attendee of an event (not the user, not a room or resource, not one who declined) is one
interaction: a message on the event's conversation (channel `meeting`, direction `out`, so it owes
no reply), dated at the event's start. It counts in `last_interaction_at`, cadence and score exactly
as one outgoing message does (kith.scoring: recency and frequency like any message; as "out" it adds
to reciprocity's out side only). A changed event replaces its
interactions (the step deletes them, then lands the event's current attendees, in one transaction);
a cancelled one removes them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

from kith.connectors.api_client import ApiClient, ApiError
from kith.connectors.steps import Step
from kith.sync.sources import MessageRecord, RecordError, SourceBatch
from kith.sync.sources._common import normalize_email

PAGE_SIZE = 2500
CHANNEL = "meeting"
THREAD_PREFIX = "event/"  # conversations.external_id of an event's conversation


def _start(event: dict[str, Any]) -> dt.datetime | None:
    start = event.get("start") or {}
    try:
        if value := start.get("dateTime"):
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(dt.UTC)
        if value := start.get("date"):  # an all-day event
            return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), dt.UTC)
    except ValueError:
        return None
    return None


def meeting_records(event: dict[str, Any], index: int) -> list[MessageRecord] | RecordError:
    """One record per person met at the event (none for an event with nobody else)."""
    sent_at = _start(event)
    if sent_at is None or not event.get("id"):
        return RecordError(source_index=index, reason="event without id or start", excerpt=str(event)[:200])
    records = []
    for attendee in event.get("attendees") or ():
        address = normalize_email(attendee.get("email"))
        if address is None or attendee.get("self") or attendee.get("resource"):
            continue
        if attendee.get("responseStatus") == "declined":
            continue
        records.append(
            MessageRecord(
                external_id=f"{event['id']}/{address}",
                thread_key=THREAD_PREFIX + event["id"],
                subject=event.get("summary"),
                body=event.get("summary") or "",
                sent_at=sent_at,
                direction="out",
                counterpart_email=address,
                counterpart_name=attendee.get("displayName"),
                channel=CHANNEL,
                source_index=index,
            )
        )
    return records


class CalendarSource:
    key = "calendar"

    def __init__(self, api: ApiClient, base_url: str, days_back: int | None) -> None:
        self.api = api
        self.url = f"{base_url}/calendar/v3/calendars/primary/events"
        self.days_back = days_back
        self.index = 0

    async def steps(self, checkpoint: dict[str, Any]) -> AsyncIterator[Step]:
        sync_token = checkpoint.get("sync_token")
        try:
            async for step in self._pages(sync_token, checkpoint.get("page_token"), checkpoint.get("time_min")):
                yield step
            return
        except ApiError as exc:
            if sync_token is None or exc.status != 410:
                raise
        yield Step(None, {}, note="calendar: sync token no longer valid (410 GONE): full sync")
        async for step in self._pages(None, None, None):
            yield step

    async def _pages(self, sync_token: str | None, page_token: str | None, time_min: str | None) -> AsyncIterator[Step]:
        if sync_token is None and time_min is None and self.days_back:
            time_min = (dt.datetime.now(dt.UTC) - dt.timedelta(days=self.days_back)).isoformat().replace("+00:00", "Z")
        while True:
            params: dict[str, Any] = {"maxResults": PAGE_SIZE, "singleEvents": "true"}
            if sync_token:
                params["syncToken"] = sync_token
            elif time_min:
                params["timeMin"] = time_min
            if page_token:
                params["pageToken"] = page_token
            page = await self.api.get_json(self.url, params)
            batch: SourceBatch = SourceBatch()
            changed = []
            for event in page.get("items") or ():
                index, self.index = self.index, self.index + 1
                if event.get("id"):
                    changed.append(event["id"])  # its earlier interactions go, its current ones land
                if event.get("status") == "cancelled":
                    batch.skipped += 1
                    continue
                records = meeting_records(event, index)
                if isinstance(records, RecordError):
                    batch.errors.append(records)
                elif records:
                    batch.records.extend(records)
                else:
                    batch.skipped += 1
            if page_token := page.get("nextPageToken"):
                checkpoint = {"sync_token": sync_token, "page_token": page_token, "time_min": time_min}
                yield Step(batch, checkpoint, changed)
            else:
                yield Step(batch, {"sync_token": page.get("nextSyncToken")}, changed)
                return
