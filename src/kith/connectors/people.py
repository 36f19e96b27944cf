"""Google Contacts (People API v1) as a connector source: the address book, then only its changes.

`people.connections.list` with `requestSyncToken=true`, 1,000 people a page, each page a step
checkpointed with the next page token; the last page's `nextSyncToken` is stored. Later syncs send
it as `syncToken` and get only the people changed since, deleted ones with `metadata.deleted`: their
contacts are soft-deleted. An expired sync token (HTTP 400, reason EXPIRED_SYNC_TOKEN, after seven
days) falls back to a full sync, said on the run. People are keyed by resource name (`people/c…`)
and matched, like every import, on their email addresses too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from kith.connectors.api_client import ApiClient, ApiError
from kith.connectors.steps import Step
from kith.sync.sources import ContactRecord, SourceBatch
from kith.sync.sources._common import normalize_email

PERSON_FIELDS = "names,emailAddresses,phoneNumbers,organizations,birthdays,urls,biographies,metadata"
PAGE_SIZE = 1000
KEY_KIND = "google_person"  # contact_keys.kind of a person's resource name


def _first(items: Any, field: str) -> Any:
    for item in items or ():
        if isinstance(item, dict) and item.get(field):
            return item[field]
    return None


def contact_record(person: dict[str, Any], index: int) -> ContactRecord:
    emails = list(
        dict.fromkeys(e for e in (normalize_email(x.get("value")) for x in person.get("emailAddresses") or ()) if e)
    )
    phones = list(
        dict.fromkeys(
            p.get("canonicalForm") or p.get("value") for p in person.get("phoneNumbers") or () if p.get("value")
        )
    )
    organization = next(iter(person.get("organizations") or ()), {})
    date = _first(person.get("birthdays"), "date") or {}
    return ContactRecord(
        full_name=_first(person.get("names"), "displayName") or (emails[0] if emails else ""),
        emails=emails,
        phones=phones,
        company=organization.get("name"),
        title=organization.get("title"),
        birthday_month=date.get("month"),
        birthday_day=date.get("day"),
        birthday_year=date.get("year"),
        links=[u["value"] for u in person.get("urls") or () if u.get("value")],
        notes=_first(person.get("biographies"), "value"),
        external_id=person.get("resourceName"),
        source_index=index,
    )


class PeopleSource:
    key = "contacts"

    def __init__(self, api: ApiClient, base_url: str) -> None:
        self.api = api
        self.url = f"{base_url}/v1/people/me/connections"
        self.index = 0

    async def steps(self, checkpoint: dict[str, Any]) -> AsyncIterator[Step]:
        sync_token = checkpoint.get("sync_token")
        try:
            async for step in self._pages(sync_token, checkpoint.get("page_token")):
                yield step
            return
        except ApiError as exc:
            if sync_token is None or exc.status != 400 or "EXPIRED_SYNC_TOKEN" not in exc.reasons:
                raise
        yield Step(None, {}, note="contacts: sync token expired (400 EXPIRED_SYNC_TOKEN): full sync")
        async for step in self._pages(None, None):
            yield step

    async def _pages(self, sync_token: str | None, page_token: str | None) -> AsyncIterator[Step]:
        while True:
            params: dict[str, Any] = {"personFields": PERSON_FIELDS, "pageSize": PAGE_SIZE, "requestSyncToken": "true"}
            if sync_token:
                params["syncToken"] = sync_token
            if page_token:
                params["pageToken"] = page_token
            page = await self.api.get_json(self.url, params)
            batch: SourceBatch = SourceBatch()
            deleted = []
            for person in page.get("connections") or ():
                index, self.index = self.index, self.index + 1
                if (person.get("metadata") or {}).get("deleted"):
                    deleted.append(person.get("resourceName"))
                    batch.skipped += 1
                else:
                    batch.records.append(contact_record(person, index))
            if page_token := page.get("nextPageToken"):
                yield Step(batch, {"sync_token": sync_token, "page_token": page_token}, deleted)
            else:
                yield Step(batch, {"sync_token": page.get("nextSyncToken")}, deleted)
                return
