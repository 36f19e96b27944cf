"""A fake of X's API v2 (direct messages, users) and its OAuth 2.0 token endpoint, as X documents them.

A Litestar app over an in-memory account (`FakeX`), served on a real local port (tests/fakes/server.py):

- `POST /2/oauth2/token` (form: grant_type=refresh_token, refresh_token, client_id; a confidential client
  also by HTTP Basic): a new access token (`expires_in` 7200) and a new refresh token; the one used stops
  working. An unknown one is 400 `{"error": "invalid_request", "error_description": "Value passed for the
  token was invalid."}`.
- `GET /2/users/me`, `GET /2/users?ids=…` (`{"data": [{"id", "name", "username"}]}`).
- `GET /2/dm_events` (`event_types`, `dm_event.fields`, `expansions=sender_id`, `user.fields`,
  `max_results` 1–100, `pagination_token`): the last 30 days of events, newest first, `includes.users`
  for the senders, `meta` with `result_count` and `next_token` while there are more.
- Every API answer carries `x-rate-limit-limit`, `-remaining` and `-reset` (epoch seconds) of its
  endpoint's 15-minute window; with none left, 429 `{"title": "Too Many Requests", …}` until the reset.
  A request without a valid access token is 401.

`requests` logs (path, query, status); `dm_pages` counts the pages of events served.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar, Request, Response, get, post

WINDOW = 900.0  # seconds: X's rate-limit window


@dataclass
class FakeX:
    me_id: str = "100"
    me_username: str = "me_on_x"
    client_id: str = "kith-x-client"
    client_secret: str = "kith-x-secret"
    users: dict[str, dict] = field(default_factory=dict)  # id → {"id", "name", "username"}
    events: list[dict] = field(default_factory=list)  # newest first
    refresh_tokens: set[str] = field(default_factory=set)
    access_tokens: dict[str, float] = field(default_factory=dict)  # token → expiry (epoch)
    limit: int = 300  # dm_events per window (X's user limit)
    remaining: int = 300
    reset_at: float = 0.0
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    dm_pages: int = 0
    _ids: int = 1_700_000_000_000_000_000

    def __post_init__(self) -> None:
        self.users[self.me_id] = {"id": self.me_id, "name": "Me", "username": self.me_username}
        self.remaining = self.limit
        self.reset_at = time.time() + WINDOW

    def grant(self) -> str:
        token = secrets.token_urlsafe(32)
        self.refresh_tokens.add(token)
        return token

    def user(self, user_id: str, username: str, name: str | None = None) -> None:
        self.users[user_id] = {"id": user_id, "name": name or username, "username": username}

    def dm(self, other_id: str, text: str, when: dt.datetime, *, sent: bool = False, group: str | None = None) -> str:
        """A message in the one-to-one conversation with `other_id` (or in the group `group`): from them, or
        sent by the user."""
        self._ids += 1
        event_id = str(self._ids)
        conversation = group or "-".join(sorted([self.me_id, other_id], key=int))
        self.events.append(
            {
                "id": event_id,
                "event_type": "MessageCreate",
                "text": text,
                "created_at": when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "dm_conversation_id": conversation,
                "sender_id": self.me_id if sent else other_id,
            }
        )
        self.events.sort(key=lambda e: (e["created_at"], int(e["id"])), reverse=True)
        return event_id

    def count(self, path_part: str, query_part: str = "", status: int | None = None) -> int:
        return sum(
            1 for p, q, s in self.requests if path_part in p and query_part in q and (status is None or s == status)
        )

    def app(self) -> Litestar:
        fake = self

        def limits() -> dict[str, str]:
            return {
                "x-rate-limit-limit": str(fake.limit),
                "x-rate-limit-remaining": str(fake.remaining),
                "x-rate-limit-reset": str(int(fake.reset_at)),
            }

        def log(request: Request, status: int) -> None:
            fake.requests.append((request.url.path, request.url.query or "", status))

        async def before(request: Request) -> Response | None:
            if request.url.path == "/2/oauth2/token":
                return None
            token = request.headers.get("authorization", "").removeprefix("Bearer ")
            if fake.access_tokens.get(token, 0) < time.time():
                log(request, 401)
                return Response(
                    {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"},
                    status_code=401,
                )
            if request.url.path == "/2/dm_events":
                if time.time() >= fake.reset_at:
                    fake.remaining, fake.reset_at = fake.limit, time.time() + WINDOW
                if fake.remaining <= 0:
                    log(request, 429)
                    body = {
                        "title": "Too Many Requests",
                        "detail": "Too Many Requests",
                        "type": "about:blank",
                        "status": 429,
                    }
                    return Response(body, status_code=429, headers=limits())
                fake.remaining -= 1
            return None

        @post("/2/oauth2/token")
        async def token(request: Request) -> Response:
            form = await request.form()
            basic = request.headers.get("authorization", "").removeprefix("Basic ")
            client = base64.b64decode(basic).decode() if basic else ""
            refused = {"error": "invalid_request", "error_description": "Value passed for the token was invalid."}
            if form.get("grant_type") != "refresh_token" or form.get("client_id") != fake.client_id:
                log(request, 400)
                return Response({"error": "invalid_client"}, status_code=401)
            if client and client != f"{fake.client_id}:{fake.client_secret}":
                log(request, 401)
                return Response({"error": "invalid_client"}, status_code=401)
            if form.get("refresh_token") not in fake.refresh_tokens:
                log(request, 400)
                return Response(refused, status_code=400)
            fake.refresh_tokens.discard(form["refresh_token"])  # rotated: the old one stops working
            access, refresh = secrets.token_urlsafe(32), fake.grant()
            fake.access_tokens[access] = time.time() + 7200
            log(request, 200)
            return Response(
                {
                    "token_type": "bearer",
                    "expires_in": 7200,
                    "access_token": access,
                    "scope": "dm.read tweet.read users.read offline.access",
                    "refresh_token": refresh,
                }
            )

        @get("/2/users/me")
        async def me(request: Request) -> dict:
            log(request, 200)
            return {"data": fake.users[fake.me_id]}

        @get("/2/users")
        async def users(request: Request, ids: str) -> dict:
            log(request, 200)
            found = [fake.users[i] for i in ids.split(",") if i in fake.users]
            return {"data": found} if found else {"errors": [{"title": "Not Found Error"}]}

        @get("/2/dm_events")
        async def dm_events(request: Request) -> Response:
            q = request.query_params
            size = max(1, min(100, int(q.get("max_results") or 100)))
            oldest = (dt.datetime.now(dt.UTC) - dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            events = [e for e in fake.events if e["created_at"] >= oldest]
            start = int(base64.urlsafe_b64decode(q["pagination_token"]).decode()) if q.get("pagination_token") else 0
            page = events[start : start + size]
            meta: dict[str, Any] = {"result_count": len(page)}
            if start + size < len(events):
                meta["next_token"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
            body: dict[str, Any] = {"meta": meta}
            if page:
                body["data"] = page
                if "sender_id" in (q.get("expansions") or ""):
                    senders = dict.fromkeys(e["sender_id"] for e in page)
                    body["includes"] = {"users": [fake.users[s] for s in senders if s in fake.users]}
            fake.dm_pages += 1
            log(request, 200)
            return Response(body, headers=limits())

        return Litestar([token, me, users, dm_events], before_request=before, debug=False)
