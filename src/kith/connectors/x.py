"""X (API v2) as a connector source: direct messages are interactions with the people written with.

`GET /2/dm_events` (`event_types=MessageCreate`, 100 a page, newest first, paged by `pagination_token`
= the last page's `meta.next_token`; X keeps 30 days of them) is read down to the first event older than
the window (`days_back`) or already read by the last pass (its newest event's id and time, checkpointed
when the pass ends); each page is a step checkpointed with the next token, so a run killed half-way
resumes there.

A message the user received is an interaction (direction `in`) with its sender; one the user sent in a
one-to-one conversation (`dm_conversation_id` = the two user ids joined by `-`) one (`out`) with the other
participant; one the user sent to a group names nobody and is skipped. The people are found by their X
handle (contact_keys kind `x`, the lowercased username, also taken from a contact's links such as
`https://x.com/handle`); someone written with but not yet a contact becomes one (name, and the profile
link), as a correspondent by mail does. Usernames come from the page's `includes.users` (`expansions=sender_id`),
and for the recipients of sent messages from `GET /2/users?ids=…` (up to 100 ids a request, once per id per run).

OAuth 2.0: an access token lives two hours; refreshing it (`POST /2/oauth2/token`, grant_type
refresh_token, the app's client id, and its secret by HTTP Basic when it is a confidential client) also
replaces the refresh token, which is stored at once, sealed: the old one no longer works. A 429 waits
until `x-rate-limit-reset`; at `x-rate-limit-remaining: 0` the client waits before sending more
(kith.connectors.rest_client).
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

import httpx

from kith.config import ConnectorSettings
from kith.connectors.api_client import ApiError, InvalidGrant, decode_json
from kith.connectors.oauth import Tokens
from kith.connectors.rest_client import RestClient
from kith.connectors.steps import Step
from kith.sync.sources import ContactRecord, MessageRecord, SourceBatch

PAGE_SIZE = 100  # X's most per page
CHANNEL = "x"
KEY_KIND = "x"  # contact_keys.kind of a username (lowercased)
THREAD_PREFIX = "dm/"  # conversations.external_id of a DM conversation: dm/<dm_conversation_id>
USERS_KEPT = 10_000  # user ids whose username a run remembers (bounded: the run's memory stays flat)
PROFILE_URL = "https://x.com/{}"


def parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(dt.UTC)
    except ValueError:
        return None


class XApi(RestClient):
    """X's API v2: `x-rate-limit-remaining` / `x-rate-limit-reset`, per 15-minute window."""

    remaining_header = "x-rate-limit-remaining"
    reset_header = "x-rate-limit-reset"


async def refresh_x_token(http: httpx.AsyncClient, settings: ConnectorSettings, refresh_token: str) -> Tokens:
    """A new access token and the refresh token that replaces `refresh_token` (InvalidGrant: connect again)."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": settings.x_client_id or ""}
    auth = (settings.x_client_id or "", settings.x_client_secret) if settings.x_client_secret else None
    response = await http.post(f"{settings.x_api_url}/2/oauth2/token", data=form, auth=auth)
    body = decode_json(response)
    if not response.is_success or not isinstance(body, dict) or not body.get("access_token"):
        error = body.get("error") if isinstance(body, dict) else None
        if response.status_code in (400, 401) and error in ("invalid_request", "invalid_grant", "invalid_client"):
            raise InvalidGrant(body.get("error_description") or error)
        raise ApiError(response.status_code, {"error": {"message": str(error or response.status_code)}}, "token")
    return Tokens(
        access_token=body["access_token"],
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=int(body.get("expires_in") or 7200)),
        refresh_token=body.get("refresh_token") or refresh_token,
        scopes=tuple(str(body.get("scope") or "").split()),
    )


class XSource:
    key = "x"
    key_kind = KEY_KIND

    def __init__(self, api: XApi, base_url: str, account_id: str, days_back: int | None) -> None:
        self.api = api
        self.base_url = base_url
        self.me = account_id
        self.window_start = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_back) if days_back else None
        self.users: OrderedDict[str, dict[str, Any]] = OrderedDict()  # id → {username, name}
        self.index = 0

    async def steps(self, checkpoint: dict[str, Any]) -> AsyncIterator[Step]:
        state = dict(checkpoint)
        seen_id, seen_at = state.get("newest_id"), parse_time(state.get("newest_at"))
        token = state.get("next")
        while True:
            params: dict[str, Any] = {
                "event_types": "MessageCreate",
                "dm_event.fields": "id,text,event_type,created_at,dm_conversation_id,sender_id",
                "expansions": "sender_id",
                "user.fields": "username,name",
                "max_results": PAGE_SIZE,
            }
            if token:
                params["pagination_token"] = token
            page = decode_json(await self.api.get(f"{self.base_url}/2/dm_events", params))
            page = page if isinstance(page, dict) else {}
            self._remember(page.get("includes", {}).get("users") or ())
            events = page.get("data") or []
            ended = False
            batch: SourceBatch = SourceBatch()
            kept: list[tuple[dict[str, Any], dt.datetime, str, str]] = []
            for event in events:
                created = parse_time(event.get("created_at"))
                if created is None or event.get("id") == seen_id or (seen_at is not None and created < seen_at):
                    ended = True  # read by the last pass (ids order by time; equal times are read again)
                    break
                if self.window_start is not None and created < self.window_start:
                    ended = True
                    break
                if "pass_newest_id" not in state:
                    state["pass_newest_id"], state["pass_newest_at"] = event["id"], event["created_at"]
                counterpart, direction = self._counterpart(event)
                if counterpart is None:
                    self.index += 1
                    batch.skipped += 1  # a message the user sent to a group
                    continue
                kept.append((event, created, counterpart, direction))
            await self._look_up({counterpart for _, _, counterpart, _ in kept} - set(self.users))
            people: dict[str, ContactRecord] = {}
            for event, created, counterpart, direction in kept:
                index, self.index = self.index, self.index + 1
                user = self.users.get(counterpart)
                if user is None:  # a deleted or suspended account: nobody to find
                    batch.skipped += 1
                    continue
                handle = user["username"].lower()
                people.setdefault(
                    handle,
                    ContactRecord(
                        full_name=user.get("name") or user["username"],
                        links=[PROFILE_URL.format(user["username"])],
                        external_id=handle,
                        source_index=index,
                    ),
                )
                batch.records.append(
                    MessageRecord(
                        external_id=f"dm/{event['id']}",
                        thread_key=THREAD_PREFIX + str(event.get("dm_conversation_id") or counterpart),
                        subject=None,
                        body=event.get("text") or "",
                        sent_at=created,
                        direction=direction,  # type: ignore[arg-type]
                        counterpart_email=handle,
                        counterpart_name=None,
                        counterpart_kind=KEY_KIND,
                        channel=CHANNEL,
                        source_index=index,
                    )
                )
            token = None if ended else (page.get("meta") or {}).get("next_token")
            if token:
                state["next"] = token
            else:
                state = {
                    "newest_id": state.get("pass_newest_id", seen_id),
                    "newest_at": state.get("pass_newest_at", state.get("newest_at")),
                }
            yield Step(batch, dict(state), people=SourceBatch(records=list(people.values())) if people else None)
            if not token:
                return

    def _counterpart(self, event: dict[str, Any]) -> tuple[str | None, str]:
        sender = str(event.get("sender_id") or "")
        if sender and sender != self.me:
            return sender, "in"
        members = str(event.get("dm_conversation_id") or "").split("-")
        others = [m for m in members if m and m != self.me]
        return (others[0], "out") if len(members) == 2 and len(others) == 1 else (None, "out")

    def _remember(self, users: Any) -> None:
        for user in users:
            if isinstance(user, dict) and user.get("id") and user.get("username"):
                self.users[str(user["id"])] = {"username": user["username"], "name": user.get("name")}
                self.users.move_to_end(str(user["id"]))
        while len(self.users) > USERS_KEPT:
            self.users.popitem(last=False)

    async def _look_up(self, ids: set[str]) -> None:
        """The usernames of recipients no page has introduced yet: 100 ids a request."""
        pending = sorted(ids)
        for start in range(0, len(pending), 100):
            chunk = pending[start : start + 100]
            params = {"ids": ",".join(chunk), "user.fields": "username,name"}
            found = decode_json(await self.api.get(f"{self.base_url}/2/users", params))
            self._remember(found.get("data") or () if isinstance(found, dict) else ())
