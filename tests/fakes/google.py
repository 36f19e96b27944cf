"""A fake of Google's OAuth 2.0, Gmail API v1 and People API v1, as Google documents them.

A Litestar app over an in-memory account (`FakeGoogle`), served on a real local port
(tests/fakes/server.py). Paths, parameters and bodies follow Google's reference:

- `GET /o/oauth2/v2/auth` approves at once: 302 to `redirect_uri?code=…&state=…`;
  `POST /token` (form-encoded) for `authorization_code` (checks the PKCE verifier, S256) and
  `refresh_token`; a revoked or unknown grant is 400 `{"error": "invalid_grant", …}`.
- `GET /gmail/v1/users/me/profile`, `/messages` (`maxResults`, `pageToken`, `q=after:EPOCH`,
  newest first), `/messages/{id}` (`format=metadata`, `metadataHeaders`; also as parts of
  `POST /batch/gmail/v1`, multipart/mixed, each part failing on its own), `/history`
  (`startHistoryId`, `historyTypes`, `pageToken`; an id older than the oldest kept is 404).
- `GET /v1/people/me/connections` (`personFields`, `pageSize`, `pageToken`, `requestSyncToken`,
  `syncToken`; changes only with a sync token, deleted people with `metadata.deleted`; an expired
  token is 400 FAILED_PRECONDITION with reason EXPIRED_SYNC_TOKEN).
- `GET /calendar/v3/calendars/primary/events` (`maxResults`, `pageToken`, `timeMin`, `singleEvents`,
  `syncToken`; changes only with a sync token, cancelled events as `status: cancelled`; a token
  older than `expire_calendar_tokens()` is 410 GONE).
- Every API call needs `Authorization: Bearer <access token>` (401 otherwise). Errors are Google's
  JSON error bodies. `fail(...)` queues failures (429 with Retry-After, 403 rateLimitExceeded,
  5xx) for the next matching requests; `latency` delays every API response; `hold(...)` blocks a
  matching request until released. `requests` logs every call (path and query).

`fill_mailbox(n)` adds n messages made on demand from their number (flat memory, for the benchmark);
the `/_fake/...` routes arrange the account from another process (`python -m tests.fakes.google`).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import email.policy
import hashlib
import itertools
import json
import secrets
import threading
from dataclasses import dataclass, field
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qs, urlencode

from litestar import Litestar, Request, Response, get, post
from litestar.response import Redirect

GMAIL = "/gmail/v1/users/me"
ME_PLACEHOLDER = "<me>"
HISTORY_TYPES = {"messagesAdded": "messageAdded", "messagesDeleted": "messageDeleted"}
PEOPLE = "/v1/people/me/connections"


def google_error(code: int, message: str, status: str, reason: str | None = None, **details: Any) -> dict:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if reason:
        error["errors"] = [{"message": message, "domain": "global", "reason": reason}]
    if details:
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", **details}]
    return {"error": error}


@dataclass
class Failure:
    path_part: str
    status: int
    body: dict
    headers: dict[str, str]


@dataclass
class Hold:
    path_part: str
    query_part: str
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


@dataclass
class FakeGoogle:
    account: str = "me@example.com"
    client_id: str = "kith-client"
    client_secret: str = "kith-secret"
    page_size: int = 500  # the most a page holds, whatever maxResults asks (Google may return fewer)
    latency: float = 0.0
    access_ttl: int = 3600
    messages: dict[str, dict] = field(default_factory=dict)  # id → message (format=metadata shape)
    order: list[str] = field(default_factory=list)  # ids, oldest first
    history: list[tuple[int, str, str]] = field(default_factory=list)  # (history id, kind, message id)
    history_id: int = 1000
    oldest_history_id: int = 0  # startHistoryId below this is 404 (Google keeps about a week)
    people: dict[str, dict] = field(default_factory=dict)  # resourceName → {"person", "seq", "deleted"}
    people_seq: int = 0
    oldest_sync_seq: int = 0  # sync tokens issued before this are expired
    refresh_tokens: dict[str, tuple[str, ...]] = field(default_factory=dict)  # token → scopes
    access_tokens: dict[str, float] = field(default_factory=dict)  # token → expiry (epoch)
    codes: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # code → (challenge, redirect, scope)
    failures: list[Failure] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, query string)
    events: dict[str, dict] = field(default_factory=dict)  # id → {"event", "seq"} (status cancelled when deleted)
    calendar_seq: int = 0
    oldest_calendar_seq: int = 0  # calendar sync tokens issued before this are gone (410)
    synthetic: int = 0  # messages made on demand (fill_mailbox)
    removed: set[str] = field(default_factory=set)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    # ------------------------------------------------------------ arranging the account

    def grant(self, scopes: tuple[str, ...] | None = None) -> str:
        """A refresh token for the account (as if the user had connected before)."""
        token = "1//" + secrets.token_urlsafe(24)
        self.refresh_tokens[token] = scopes or (
            "https://www.googleapis.com/auth/gmail.readonly",
            "https://www.googleapis.com/auth/contacts.readonly",
            "email",
        )
        return token

    def revoke(self, refresh_token: str) -> None:
        self.refresh_tokens.pop(refresh_token, None)
        self.access_tokens.clear()

    def add_message(
        self,
        sender: str,
        to: str,
        *,
        subject: str = "Hello",
        sent: dt.datetime | None = None,
        thread: str | None = None,
        labels: tuple[str, ...] = ("INBOX",),
        headers: dict[str, str] | None = None,
        snippet: str = "Hi there",
    ) -> str:
        n = next(self._ids)
        message_id = f"{n:016x}"
        sent = sent or dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=n)
        self.history_id += 1
        all_headers = {
            "From": sender,
            "To": to,
            "Subject": subject,
            "Date": sent.strftime("%a, %d %b %Y %H:%M:%S +0000"),
            "Message-ID": f"<{message_id}@mail.example.com>",
            **(headers or {}),
        }
        self.messages[message_id] = {
            "id": message_id,
            "threadId": thread or message_id,
            "labelIds": list(labels),
            "snippet": snippet,
            "historyId": str(self.history_id),
            "internalDate": str(int(sent.timestamp() * 1000)),
            "sizeEstimate": 1024,
            "payload": {"mimeType": "text/plain", "headers": [{"name": k, "value": v} for k, v in all_headers.items()]},
        }
        self.order.append(message_id)
        self.history.append((self.history_id, "messagesAdded", message_id))
        return message_id

    def fill_mailbox(self, count: int) -> None:
        """Add `count` messages, each built when asked for (1 in 10 from a mailing list, 1 in 5 sent)."""
        start, self.synthetic = self.synthetic, self.synthetic + count
        self.order.extend(f"5{n:015x}" for n in range(start, start + count))
        self.history_id += count  # no history entries: these were there before any sync

    def message(self, message_id: str) -> dict | None:
        if (message := self.messages.get(message_id)) is not None:
            return message
        if not message_id.startswith("5") or len(message_id) != 16:
            return None
        n = int(message_id[1:], 16)
        if n >= self.synthetic or message_id in self.removed:
            return None
        person = f"Person {n % 5000} <p{n % 5000}@example.com>"
        sender, to = (ME_PLACEHOLDER, person) if n % 5 == 0 else (person, ME_PLACEHOLDER)
        headers = [
            {"name": "From", "value": sender.replace(ME_PLACEHOLDER, self.account)},
            {"name": "To", "value": to.replace(ME_PLACEHOLDER, self.account)},
            {"name": "Subject", "value": f"Thread {n // 3}"},
            {"name": "Message-ID", "value": f"<{message_id}@mail.example.com>"},
        ]
        if n % 10 == 7:
            headers.append({"name": "List-Id", "value": "<news.example.com>"})
        sent = dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=n)
        return {
            "id": message_id,
            "threadId": f"5{n // 3:015x}",
            "labelIds": ["SENT"] if n % 5 == 0 else ["INBOX"],
            "snippet": f"Message number {n}",
            "historyId": str(self.history_id),
            "internalDate": str(int(sent.timestamp() * 1000)),
            "payload": {"mimeType": "text/plain", "headers": headers},
        }

    def delete_message(self, message_id: str) -> None:
        self.removed.add(message_id)
        self.messages.pop(message_id, None)
        self.order.remove(message_id)
        self.history_id += 1
        self.history.append((self.history_id, "messagesDeleted", message_id))

    def expire_history(self) -> None:
        """Every history id handed out so far is too old now (a 404 from history.list)."""
        self.oldest_history_id = self.history_id + 1

    def put_person(self, resource_name: str, name: str, emails: list[str], **fields: Any) -> None:
        self.people_seq += 1
        person = {
            "resourceName": resource_name,
            "etag": f"%{self.people_seq}",
            "metadata": {"sources": [{"type": "CONTACT", "id": resource_name.split("/")[-1]}]},
            "names": [{"displayName": name}],
            "emailAddresses": [{"value": e} for e in emails],
            **fields,
        }
        self.people[resource_name] = {"person": person, "seq": self.people_seq, "deleted": False}

    def delete_person(self, resource_name: str) -> None:
        self.people_seq += 1
        self.people[resource_name].update(seq=self.people_seq, deleted=True)

    def put_event(self, event_id: str, summary: str, start: dt.datetime, attendees: list[dict]) -> None:
        """An event on the primary calendar; `attendees` as Google lists them (email, self, resource, …)."""
        self.calendar_seq += 1
        event = {
            "kind": "calendar#event",
            "id": event_id,
            "status": "confirmed",
            "summary": summary,
            "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": (start + dt.timedelta(hours=1)).isoformat()},
            "organizer": {"email": self.account, "self": True},
            "attendees": attendees,
        }
        self.events[event_id] = {"event": event, "seq": self.calendar_seq}

    def cancel_event(self, event_id: str) -> None:
        self.calendar_seq += 1
        self.events[event_id] = {"event": {"id": event_id, "status": "cancelled"}, "seq": self.calendar_seq}

    def expire_calendar_tokens(self) -> None:
        self.oldest_calendar_seq = self.calendar_seq + 1

    def expire_sync_tokens(self) -> None:
        self.oldest_sync_seq = self.people_seq + 1

    def fail(
        self, path_part: str, status: int, *, times: int = 1, retry_after: str | None = None, reason: str = ""
    ) -> None:
        """The next `times` requests whose path contains `path_part` get `status` (before any other check)."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        if status == 429:
            body = google_error(429, "Resource has been exhausted", "RESOURCE_EXHAUSTED", reason or "rateLimitExceeded")
        elif status == 403:
            body = google_error(403, "Rate Limit Exceeded", "PERMISSION_DENIED", reason or "rateLimitExceeded")
        else:
            body = google_error(status, "Backend Error", "UNAVAILABLE" if status == 503 else "INTERNAL", "backendError")
        self.failures.extend(Failure(path_part, status, body, headers) for _ in range(times))

    def hold(self, path_part: str, query_part: str = "") -> Hold:
        """Block the next request matching until `hold.release.set()`; `hold.reached` is set when it arrives."""
        held = Hold(path_part, query_part)
        self.holds.append(held)
        return held

    def count(self, path_part: str, query_part: str = "") -> int:
        return sum(1 for path, query in self.requests if path_part in path and query_part in query)

    # ------------------------------------------------------------ serving

    def app(self) -> Litestar:
        fake = self

        async def before(request: Request) -> Response | None:
            fake.requests.append((request.url.path, request.url.query or ""))
            for held in list(fake.holds):
                if held.path_part in request.url.path and held.query_part in (request.url.query or ""):
                    fake.holds.remove(held)
                    held.reached.set()
                    await asyncio.to_thread(held.release.wait, 30)
            for failure in fake.failures:
                if failure.path_part in request.url.path:
                    fake.failures.remove(failure)
                    return Response(failure.body, status_code=failure.status, headers=failure.headers)
            if request.url.path.startswith(("/gmail/", "/v1/")):
                if fake.latency:
                    await asyncio.sleep(fake.latency)
                token = request.headers.get("authorization", "").removeprefix("Bearer ")
                expiry = fake.access_tokens.get(token)
                if expiry is None or expiry < dt.datetime.now(dt.UTC).timestamp():
                    body = google_error(401, "Request had invalid authentication credentials.", "UNAUTHENTICATED")
                    return Response(body, status_code=401, headers={"WWW-Authenticate": 'Bearer realm="google"'})
            return None

        @get("/o/oauth2/v2/auth")
        async def authorize(request: Request) -> Redirect:
            q = request.query_params
            assert q["client_id"] == fake.client_id and q["response_type"] == "code"
            assert q["code_challenge_method"] == "S256" and q["access_type"] == "offline"
            code = "4/" + secrets.token_urlsafe(16)
            fake.codes[code] = (q["code_challenge"], q["redirect_uri"], q["scope"])
            return Redirect(
                f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state'], 'scope': q['scope']})}"
            )

        @post("/token")
        async def token(request: Request) -> Response:
            form = await request.form()
            if (form.get("client_id"), form.get("client_secret")) != (fake.client_id, fake.client_secret):
                return Response({"error": "invalid_client", "error_description": "Unauthorized"}, status_code=401)
            refused = Response(
                {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}, status_code=400
            )
            if form.get("grant_type") == "authorization_code":
                challenge, redirect_uri, scope = fake.codes.pop(form.get("code", ""), (None, None, None))
                verifier = form.get("code_verifier", "")
                computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if challenge is None or computed != challenge or form.get("redirect_uri") != redirect_uri:
                    return refused
                refresh = fake.grant(tuple(scope.split()))
            elif form.get("grant_type") == "refresh_token":
                refresh = form.get("refresh_token", "")
                if refresh not in fake.refresh_tokens:
                    return refused
            else:
                return Response({"error": "unsupported_grant_type"}, status_code=400)
            access = "ya29." + secrets.token_urlsafe(24)
            fake.access_tokens[access] = dt.datetime.now(dt.UTC).timestamp() + fake.access_ttl
            body = {
                "access_token": access,
                "expires_in": fake.access_ttl,
                "scope": " ".join(fake.refresh_tokens[refresh]),
                "token_type": "Bearer",
            }
            if form.get("grant_type") == "authorization_code":
                body["refresh_token"] = refresh
            return Response(body)

        @get(f"{GMAIL}/profile")
        async def profile() -> dict:
            return {
                "emailAddress": fake.account,
                "messagesTotal": len(fake.order),
                "threadsTotal": len(fake.order),
                "historyId": str(fake.history_id),
            }

        def page(items: list, request: Request, limit_param: str) -> tuple[list, str | None]:
            size = min(int(request.query_params.get(limit_param) or 100), fake.page_size)
            start = (
                int(request.query_params.get("pageToken") or "0", 36) if request.query_params.get("pageToken") else 0
            )
            chunk = items[start : start + size]
            return chunk, (base36(start + size) if start + size < len(items) else None)

        @get(f"{GMAIL}/messages")
        async def list_messages(request: Request) -> dict:
            ids = list(reversed(fake.order))  # newest first
            query = request.query_params.get("q") or ""
            if query.startswith("after:"):
                after_ms = int(query[6:]) * 1000
                ids = [i for i in ids if int(fake.message(i)["internalDate"]) > after_ms]
            chunk, next_token = page(ids, request, "maxResults")
            body: dict[str, Any] = {"resultSizeEstimate": len(ids)}
            if chunk:
                body["messages"] = [{"id": i, "threadId": fake.message(i)["threadId"]} for i in chunk]
            if next_token:
                body["nextPageToken"] = next_token
            return body

        def message_answer(message_id: str, query: dict[str, list[str]]) -> tuple[int, dict]:
            message = fake.message(message_id)
            if message is None:
                return 404, google_error(404, "Requested entity was not found.", "NOT_FOUND", "notFound")
            assert query.get("format") == ["metadata"]
            wanted = {h.lower() for h in query.get("metadataHeaders", [])}
            headers = [h for h in message["payload"]["headers"] if h["name"].lower() in wanted]
            return 200, {**message, "payload": {**message["payload"], "headers": headers}}

        @get(f"{GMAIL}/messages/{{message_id:str}}")
        async def get_message(request: Request, message_id: str) -> Response:
            status, body = message_answer(message_id, parse_qs(request.url.query or ""))
            return Response(body, status_code=status)

        @post("/batch/gmail/v1")
        async def batch(request: Request) -> Response:
            """Google's batch endpoint: a multipart/mixed body of HTTP requests, answered part for part."""
            raw = b"Content-Type: " + request.headers["content-type"].encode() + b"\r\n\r\n" + await request.body()
            parts = []
            for part in BytesParser(policy=email.policy.HTTP).parsebytes(raw).iter_parts():
                method, target = (part.get_payload(decode=True) or b"").decode().split("\r\n")[0].split()[:2]
                path, _, query = target.partition("?")
                fake.requests.append((path, query))
                failure = next((f for f in fake.failures if f.path_part in path), None)
                if failure is not None:
                    fake.failures.remove(failure)
                    status, body = failure.status, failure.body
                elif method == "GET" and path.startswith(f"{GMAIL}/messages/"):
                    status, body = message_answer(path.rsplit("/", 1)[1], parse_qs(query))
                else:
                    status, body = 404, google_error(404, "Not found", "NOT_FOUND", "notFound")
                item = (part.get("Content-ID") or "<item>").strip("<>")
                parts.append(
                    f"--batch_fake\r\nContent-Type: application/http\r\nContent-ID: <response-{item}>\r\n\r\n"
                    f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
                    f"Content-Type: application/json; charset=UTF-8\r\n\r\n{json.dumps(body)}\r\n"
                )
            content = "".join(parts) + "--batch_fake--\r\n"
            return Response(content, media_type="multipart/mixed; boundary=batch_fake")

        @get(f"{GMAIL}/history")
        async def history(request: Request) -> Response:
            start = int(request.query_params["startHistoryId"])
            if start < fake.oldest_history_id:
                body = google_error(404, "Requested entity was not found.", "NOT_FOUND", "notFound")
                return Response(body, status_code=404)
            kinds = set(request.query_params.getall("historyTypes", [])) or {"messageAdded", "messageDeleted"}
            records = []
            for history_id, kind, message_id in fake.history:
                if history_id > start and HISTORY_TYPES[kind] in kinds:
                    entry = {"message": {"id": message_id, "threadId": message_id}}
                    records.append({"id": str(history_id), "messages": [entry["message"]], kind: [entry]})
            chunk, next_token = page(records, request, "maxResults")
            body: dict[str, Any] = {"historyId": str(fake.history_id)}
            if chunk:
                body["history"] = chunk
            if next_token:
                body["nextPageToken"] = next_token
            return Response(body)

        @get(PEOPLE)
        async def connections(request: Request) -> Response:
            q = request.query_params
            assert "personFields" in q
            sync_token = q.get("syncToken")
            if sync_token:
                seq = int(sync_token.removeprefix("sync-"))
                if seq < fake.oldest_sync_seq:
                    body = google_error(
                        400,
                        "Sync token is expired. Clear local cache and retry call without the sync token.",
                        "FAILED_PRECONDITION",
                        reason="EXPIRED_SYNC_TOKEN",
                        domain="people.googleapis.com",
                    )
                    body["error"]["details"][0]["reason"] = "EXPIRED_SYNC_TOKEN"
                    return Response(body, status_code=400)
                entries = [e for e in fake.people.values() if e["seq"] > seq]
            else:
                entries = [e for e in fake.people.values() if not e["deleted"]]
            entries.sort(key=lambda e: e["person"]["resourceName"])
            people = [
                {"resourceName": e["person"]["resourceName"], "etag": "%x", "metadata": {"deleted": True}}
                if e["deleted"]
                else e["person"]
                for e in entries
            ]
            chunk, next_token = page(people, request, "pageSize")
            body: dict[str, Any] = {"totalPeople": len(people), "totalItems": len(people)}
            if chunk:
                body["connections"] = chunk
            if next_token:
                body["nextPageToken"] = next_token
            elif q.get("requestSyncToken") == "true":
                body["nextSyncToken"] = f"sync-{fake.people_seq}"
            return Response(body)

        @get("/calendar/v3/calendars/primary/events")
        async def events(request: Request) -> Response:
            q = request.query_params
            sync_token = q.get("syncToken")
            if sync_token:
                seq = int(sync_token.removeprefix("cal-"))
                if seq < fake.oldest_calendar_seq:
                    body = google_error(410, "Sync token is no longer valid, a full sync is required.", "GONE")
                    body["error"]["errors"] = [{"domain": "global", "reason": "fullSyncRequired"}]
                    return Response(body, status_code=410)
                entries = [e["event"] for e in fake.events.values() if e["seq"] > seq]
            else:
                entries = [e["event"] for e in fake.events.values() if e["event"]["status"] != "cancelled"]
                if time_min := q.get("timeMin"):
                    since = dt.datetime.fromisoformat(time_min.replace("Z", "+00:00"))
                    entries = [e for e in entries if dt.datetime.fromisoformat(e["start"]["dateTime"]) >= since]
            chunk, next_token = page(sorted(entries, key=lambda e: e["id"]), request, "maxResults")
            body: dict[str, Any] = {"kind": "calendar#events", "summary": fake.account, "items": chunk}
            if next_token:
                body["nextPageToken"] = next_token
            else:
                body["nextSyncToken"] = f"cal-{fake.calendar_seq}"
            return Response(body)

        @post("/_fake/grant")
        async def control_grant() -> dict:
            return {"refresh_token": fake.grant()}

        @post("/_fake/mailbox")
        async def control_mailbox(data: dict[str, int]) -> dict:
            """Arrange from another process: {"fill": n} messages more, {"add": n} new ones, {"delete": n} oldest."""
            fake.fill_mailbox(data.get("fill", 0))
            for n in range(data.get("add", 0)):
                fake.add_message(f"New {n} <new{n}@example.com>", fake.account, sent=dt.datetime.now(dt.UTC))
            for message_id in fake.order[: data.get("delete", 0)]:
                fake.delete_message(message_id)
            return {"messages": len(fake.order), "history_id": fake.history_id}

        @post("/_fake/latency")
        async def control_latency(data: dict[str, float]) -> dict:
            fake.latency = data["seconds"]
            return {"latency": fake.latency}

        @get("/_fake/requests")
        async def control_requests() -> dict:
            return {"requests": len(fake.requests)}

        return Litestar(
            [
                authorize,
                token,
                profile,
                list_messages,
                get_message,
                batch,
                history,
                connections,
                events,
                control_grant,
                control_mailbox,
                control_latency,
                control_requests,
            ],
            before_request=before,
            debug=False,
        )


def base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


if __name__ == "__main__":
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description="Serve a fake Google (OAuth, Gmail, People) on 127.0.0.1.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added to every API call (default 0.02)")
    args = parser.parse_args()
    uvicorn.run(
        FakeGoogle(latency=args.latency).app(), host="127.0.0.1", port=args.port, log_level="warning", access_log=False
    )
