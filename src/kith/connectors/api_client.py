"""Calling Google's APIs as a good citizen: one httpx client, retries with backoff, fresh access tokens.

Retried: rate limits (429; 403 with reason `rateLimitExceeded` / `userRateLimitExceeded`), server
errors (500, 502, 503, 504) and lost connections, up to `max_retries` times. The wait honours
`Retry-After` when the API sends it, else grows exponentially with full jitter (a random wait up
to base × 2^attempt, capped), so many clients refused at once do not come back at once. A 401
refreshes the access token once. Any other error is an `ApiError` carrying Google's error body
(`{"error": {"code", "message", "status", "errors": [{"reason"}], "details": [{"reason"}]}}`),
for the caller to act on (an expired history id or sync token). The client counts the requests
and retries it made: they are recorded on the run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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


def decode_json(response: httpx.Response) -> Any:
    try:
        return msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        return response.text


def _is_rate_limit(response: httpx.Response, body: Any) -> bool:
    if response.status_code in RETRIED_STATUSES:
        return True
    return response.status_code == 403 and bool(ApiError(403, body, "").reasons & RATE_LIMIT_REASONS)


@dataclass(slots=True)
class AccessToken:
    value: str
    expires_at: dt.datetime


# Refreshes the access token (force: the API refused the one we have); raises InvalidGrant.
TokenSource = Callable[[bool], Awaitable[str]]


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

    async def get_json(self, url: str, params: Any = None) -> Any:
        refreshed = False
        attempt = 0
        while True:
            response = None
            try:
                token = await self.token(False)
                self.requests += 1
                response = await self.http.get(url, params=params, headers={"Authorization": f"Bearer {token}"})
            except httpx.TransportError as exc:
                if attempt >= self.settings.max_retries:
                    raise
                logger.info("connector request failed (%s), retrying", type(exc).__name__)
            else:
                body = decode_json(response)
                if response.is_success:
                    return body
                if response.status_code == 401 and not refreshed:
                    refreshed = True
                    await self.token(True)
                    continue
                if not _is_rate_limit(response, body) or attempt >= self.settings.max_retries:
                    raise ApiError(response.status_code, body, url)
            delay = self._backoff(attempt, response)
            attempt += 1
            self.retries += 1
            self.waited += delay
            await asyncio.sleep(delay)
