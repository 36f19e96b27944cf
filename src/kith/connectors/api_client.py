"""Calling Google's APIs as a good citizen: one httpx client, retries with backoff, fresh access tokens.

Retried: rate limits (429; 403 with reason `rateLimitExceeded` / `userRateLimitExceeded`), server
errors (500, 502, 503, 504) and lost connections, up to `max_retries` times. The wait honours
`Retry-After` when the API sends it, else grows exponentially with full jitter (a random wait up
to base × 2^attempt, capped), so many clients refused at once do not come back at once. A 401
refreshes the access token once. Any other error is an `ApiError` carrying Google's error body
(`{"error": {"code", "message", "status", "errors": [{"reason"}], "details": [{"reason"}]}}`),
for the caller to act on (an expired history id or sync token). `batch` sends up to 100 GETs in
one request (Google's multipart/mixed batch endpoint); each part may fail on its own, and the caller
retries the parts that are worth it. The client counts the requests and retries it made: they are
recorded on the run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.policy
import email.utils
import logging
import random
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.parser import BytesParser
from typing import Any

import httpx
import msgspec

from kith.config import ConnectorSettings

logger = logging.getLogger(__name__)
# httpx logs a line per request at INFO: 100,000 on a first sync, saying nothing the run does not.
logging.getLogger("httpx").setLevel(logging.WARNING)

RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class ApiError(Exception):
    """A request Google refused for good (not a rate limit, not a blip): its status and error body."""

    def __init__(self, status: int, body: Any, url: str) -> None:
        self.status = status
        self.body = body if isinstance(body, dict) else {}
        error = self.body.get("error")
        self.error = error if isinstance(error, dict) else {}
        super().__init__(f"HTTP {status} from {url}: {self.error.get('message') or str(body)[:200]}")

    @property
    def reasons(self) -> set[str]:
        """The machine-readable reasons of the error (`errors[].reason`, `details[].reason`)."""
        items = [*(self.error.get("errors") or []), *(self.error.get("details") or [])]
        return {item["reason"] for item in items if isinstance(item, dict) and isinstance(item.get("reason"), str)}


class InvalidGrant(Exception):
    """The refresh token was revoked or expired: the user must connect again."""


def retry_after_seconds(value: str | None, now: dt.datetime | None = None) -> float | None:
    """`Retry-After` as seconds: a number of seconds, or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


def parse_batch_response(content_type: str, content: bytes, count: int) -> list[tuple[int, Any]]:
    """The parts of a multipart/mixed batch response, each an HTTP response, matched to their requests by
    Content-ID (`<response-itemN>`); a request without its part is a 500 to retry."""
    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + content
    )
    answers: list[tuple[int, Any]] = [(500, None)] * count
    for part in message.iter_parts():
        item = (part.get("Content-ID") or "").strip("<> ").removeprefix("response-").removeprefix("item")
        payload = part.get_payload(decode=True) or b""
        head, _, body = payload.replace(b"\r\n", b"\n").partition(b"\n\n")
        try:
            status = int(head.split(None, 2)[1])
            index = int(item)
        except (IndexError, ValueError):
            continue
        if 0 <= index < count:
            try:
                answers[index] = (status, msgspec.json.decode(body) if body.strip() else None)
            except msgspec.DecodeError:
                answers[index] = (status, None)
    return answers


def decode_json(response: httpx.Response) -> Any:
    try:
        return msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        return response.text


def is_retried(status: int, body: Any) -> bool:
    """A rate limit or a server blip: worth another try."""
    if status in RETRIED_STATUSES:
        return True
    return status == 403 and bool(ApiError(403, body, "").reasons & RATE_LIMIT_REASONS)


def _is_rate_limit(response: httpx.Response, body: Any) -> bool:
    return is_retried(response.status_code, body)


@dataclass(slots=True)
class AccessToken:
    value: str
    expires_at: dt.datetime


# Refreshes the access token (force: the API refused the one we have); raises InvalidGrant.
TokenSource = Callable[[bool], Awaitable[str]]


def access_token(token: str, provider: str) -> TokenSource:
    """A token that does not expire (a GitHub personal access token): refused, the user must connect again."""

    async def current(force: bool) -> str:
        if force:
            raise InvalidGrant(f"{provider} refused the token")
        return token

    return current


class ApiClient:
    """GETs JSON from one provider's APIs for one connection, retrying what is worth retrying."""

    def __init__(self, http: httpx.AsyncClient, settings: ConnectorSettings, token: TokenSource) -> None:
        self.http = http
        self.settings = settings
        self.token = token
        self.requests = 0
        self.retries = 0
        self.waited = 0.0

    def _backoff(self, attempt: int, response: httpx.Response | None) -> float:
        hinted = retry_after_seconds(response.headers.get("retry-after")) if response is not None else None
        if hinted is not None:
            return min(hinted, self.settings.retry_max_delay)
        cap = min(self.settings.retry_max_delay, self.settings.retry_delay * 2**attempt)
        return random.uniform(0, cap)

    async def wait(self, attempt: int, response: httpx.Response | None = None) -> None:
        """Back off before attempt `attempt + 1` (Retry-After when the response has one)."""
        delay = self._backoff(attempt, response)
        self.retries += 1
        self.waited += delay
        await asyncio.sleep(delay)

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """The response of the first attempt that succeeds; ApiError (or the transport error) once retries run out."""
        refreshed = False
        attempt = 0
        headers = kwargs.pop("headers", {})
        while True:
            response = None
            try:
                token = await self.token(False)
                self.requests += 1
                authorized = {**headers, "Authorization": f"Bearer {token}"}
                response = await self.http.request(method, url, headers=authorized, **kwargs)
            except httpx.TransportError as exc:
                if attempt >= self.settings.max_retries:
                    raise
                logger.info("connector request failed (%s), retrying", type(exc).__name__)
            else:
                if response.is_success:
                    return response
                body = decode_json(response)
                if response.status_code == 401 and not refreshed:
                    refreshed = True
                    await self.token(True)
                    continue
                if not _is_rate_limit(response, body) or attempt >= self.settings.max_retries:
                    raise ApiError(response.status_code, body, url)
            await self.wait(attempt, response)
            attempt += 1

    async def get_json(self, url: str, params: Any = None) -> Any:
        return decode_json(await self._send("GET", url, params=params))

    async def batch(self, url: str, paths: list[str]) -> list[tuple[int, Any]]:
        """Google's batch request: up to 100 GETs (`paths` with their queries) in one multipart/mixed POST;
        each part's (status, JSON body), in order. A part can fail on its own (404, a rate limit)."""
        boundary = f"kith_{secrets.token_hex(12)}"
        parts = [
            f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <item{n}>\r\n\r\nGET {path}\r\n\r\n"
            for n, path in enumerate(paths)
        ]
        content = ("".join(parts) + f"--{boundary}--\r\n").encode()
        response = await self._send(
            "POST", url, content=content, headers={"Content-Type": f"multipart/mixed; boundary={boundary}"}
        )
        return parse_batch_response(response.headers.get("content-type", ""), response.content, len(paths))
