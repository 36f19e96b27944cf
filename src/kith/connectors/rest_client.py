"""A REST client for providers that announce their rate limits in headers (GitHub, X).

Requests are serial (GitHub asks integrations not to send concurrent requests; X's limits are per 15-minute
window). The remaining requests and the window's reset (epoch seconds) are read from every response: at 0
the client waits for the reset before sending more, so the limit is never hit; a reset further off than
KITH_CONNECTOR_RETRY_MAX_DELAY ends the run instead (RateLimitExhausted), which the next sync resumes from
its checkpoint. A refusal with `Retry-After` (GitHub's secondary rate limits) waits that long; a 429 or 403
when the window is used up (by another client of the same token) waits for the reset; other rate-limit
refusals and 5xx back off exponentially with full jitter. A 401 asks the token source for a fresh token
once. A request may carry an ETag (`If-None-Match`): a 304 costs no rate limit and is counted apart.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from kith.config import ConnectorSettings
from kith.connectors.api_client import ApiError, TokenSource, decode_json, retry_after_seconds

logger = logging.getLogger(__name__)


class RateLimitExhausted(ApiError):
    """The rate limit is used up until a reset further off than the run may wait."""


class RestClient:
    """GETs from a REST API for one connection, serially, within the rate limits its headers announce.

    Counts what the run records: requests sent, retries and seconds waited, responses that cost rate
    limit (every answer but a 304) and 304s.
    """

    # The headers saying how many requests are left in the window, and when it resets (epoch seconds).
    remaining_header = "x-ratelimit-remaining"
    reset_header = "x-ratelimit-reset"
    headers: dict[str, str] = {}  # sent with every request

    def __init__(self, http: httpx.AsyncClient, settings: ConnectorSettings, token: TokenSource) -> None:
        self.http = http
        self.settings = settings
        self.token = token
        self.requests = 0
        self.retries = 0
        self.waited = 0.0
        self.rate_limited = 0
        self.not_modified = 0
        self.remaining: int | None = None
        self.reset_at: float | None = None  # epoch seconds

    @property
    def extra(self) -> dict[str, int]:
        return {"rate_limited_requests": self.rate_limited, "not_modified": self.not_modified}

    async def _sleep(self, seconds: float) -> None:
        self.waited += seconds
        await asyncio.sleep(seconds)

    async def _wait_for_reset(self, url: str) -> None:
        delay = max(0.0, (self.reset_at or 0) - time.time()) + 1  # GitHub's reset is to the second
        if delay > self.settings.retry_max_delay:
            when = dt.datetime.fromtimestamp(self.reset_at or 0, dt.UTC).isoformat()
            raise RateLimitExhausted(403, {"message": f"rate limit used up until {when}: the next sync resumes"}, url)
        logger.info("rate limit used up: waiting %.0f s for its reset", delay)
        await self._sleep(delay)
        self.remaining = None

    def _note_limits(self, response: httpx.Response) -> None:
        try:
            self.remaining = int(response.headers[self.remaining_header])
            self.reset_at = float(response.headers[self.reset_header])
        except (KeyError, ValueError):
            pass

    async def get(self, url: str, params: dict[str, Any] | None = None, etag: str | None = None) -> httpx.Response:
        """A 200 (or a 304 when `etag` still matches); ApiError for a refusal, after retrying what is worth it."""
        refreshed = False
        attempt = 0
        while True:
            if self.remaining == 0 and self.reset_at is not None and self.reset_at > time.time() - 1:
                await self._wait_for_reset(url)  # before the limit is hit, not after
            headers = dict(self.headers)
            if etag:
                headers["If-None-Match"] = etag
            response = None
            try:
                headers["Authorization"] = f"Bearer {await self.token(False)}"
                self.requests += 1
                response = await self.http.get(url, params=params, headers=headers)
            except httpx.TransportError as exc:
                if attempt >= self.settings.max_retries:
                    raise
                logger.info("connector request failed (%s), retrying", type(exc).__name__)
            else:
                self._note_limits(response)
                if response.status_code == 304:
                    self.not_modified += 1
                    return response
                self.rate_limited += 1
                if response.is_success:
                    return response
                body = decode_json(response)
                if response.status_code == 401 and not refreshed:
                    refreshed = True
                    await self.token(True)
                    continue
                if attempt >= self.settings.max_retries or not await self._retry(response, attempt, url):
                    raise ApiError(response.status_code, body if isinstance(body, dict) else {}, url)
                attempt += 1
                continue
            await self._backoff(attempt)
            attempt += 1

    async def _retry(self, response: httpx.Response, attempt: int, url: str) -> bool:
        """Wait as GitHub asks before retrying a refused request; False: not worth retrying."""
        status = response.status_code
        if status in (403, 429):
            hinted = retry_after_seconds(response.headers.get("retry-after"))
            if hinted is not None:  # a secondary rate limit
                if hinted > self.settings.retry_max_delay:
                    raise RateLimitExhausted(status, {"message": f"secondary rate limit: retry after {hinted} s"}, url)
                self.retries += 1
                await self._sleep(hinted)
                return True
            if self.remaining == 0:  # the window's limit (GitHub's primary one), used up elsewhere with this token
                self.retries += 1
                await self._wait_for_reset(url)
                return True
            message = str((decode_json(response) or {}).get("message", "")) if response.content else ""
            if "rate limit" not in message.lower():
                return False  # a permission refusal
        elif status not in (500, 502, 503, 504):
            return False
        await self._backoff(attempt)
        return True

    async def _backoff(self, attempt: int) -> None:
        self.retries += 1
        cap = min(self.settings.retry_max_delay, self.settings.retry_delay * 2**attempt)
        await self._sleep(random.uniform(0, cap))

    async def pages(self, url: str, params: dict[str, Any] | None = None) -> AsyncIterator[list[dict[str, Any]]]:
        """Every page of a listing, following `Link: <…>; rel="next"`."""
        next_url: str | None = url
        while next_url:
            response = await self.get(next_url, params)
            params = None  # the next link carries the query
            body = decode_json(response)
            yield body if isinstance(body, list) else []
            next_url = response.links.get("next", {}).get("url")
