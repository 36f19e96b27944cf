"""What every scenario shares: whose token a simulated user holds, how much of the mix it is, and what counts
as a failure (any answer but 2xx or 304, a 429 included: a load test measures speed, not the limiter).

    KITH_TOKENS_FILE=loadtests/results/tokens.txt   one `tenant<TAB>token` (or just a token) a line:
                                                     users spread over the tenants, one token per tenant
    KITH_TOKEN=…                                     or a single token
    KITH_MIX=scroller=6,web=3,sync=1                 relative weights of the scenarios (0 leaves one out)
"""

from __future__ import annotations

import itertools
import os
import random
from pathlib import Path

from locust import HttpUser

MIX_DEFAULTS = {"scroller": 6, "web": 3, "sync": 1}


def _tokens() -> list[str]:
    path = os.environ.get("KITH_TOKENS_FILE")
    if path:
        lines = [line.split("\t")[-1].strip() for line in Path(path).read_text().splitlines()]
        return [line for line in lines if line]
    token = os.environ.get("KITH_TOKEN", "")
    return [token] if token else []


TOKENS = _tokens()
_NEXT_TOKEN = itertools.cycle(range(max(len(TOKENS), 1)))


def mix_weight(scenario: str) -> int:
    """The scenario's weight from KITH_MIX (`scroller=6,web=3,sync=1`), else its default."""
    pairs = dict(part.split("=", 1) for part in os.environ.get("KITH_MIX", "").split(",") if "=" in part)
    return int(pairs.get(scenario, MIX_DEFAULTS[scenario]))


class KithUser(HttpUser):
    """A client of one tenant (the tokens are dealt out in turn), revalidating what it has seen with ETags."""

    abstract = True

    def on_start(self) -> None:
        if not TOKENS:
            raise RuntimeError("set KITH_TOKENS_FILE or KITH_TOKEN")
        self.client.headers["Authorization"] = f"Bearer {TOKENS[next(_NEXT_TOKEN)]}"
        self.etags: dict[str, str] = {}
        self.bodies: dict[str, dict] = {}

    def call(
        self, method: str, path: str, *, name: str | None = None, revalidate: bool = False, **kwargs
    ) -> dict | None:
        """One request; its JSON body (the kept one after a 304), or None when it failed. Anything but 2xx/304
        is a failure; `revalidate` sends the ETag this user last saw for the same URL."""
        key = f"{path}?{sorted((kwargs.get('params') or {}).items())}"
        headers = dict(kwargs.pop("headers", {}) or {})
        if revalidate and key in self.etags:
            headers["If-None-Match"] = self.etags[key]
        with self.client.request(
            method, path, name=name or path, headers=headers, catch_response=True, **kwargs
        ) as response:
            if response.status_code == 304:
                response.success()
                return self.bodies.get(key)
            if not 200 <= response.status_code < 300:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                return None
            response.success()
            body = response.json() if response.content else {}
            if method == "GET" and "ETag" in response.headers:
                self.etags[key], self.bodies[key] = response.headers["ETag"], body
            return body

    def walk(self, path: str, *, name: str, depth: int, params: dict | None = None) -> list[dict]:
        """Follow next_cursor from the first page to `depth` pages (or the end); the items seen."""
        items: list[dict] = []
        cursor = None
        for page in range(depth):
            query = {**(params or {}), "limit": 50, **({"cursor": cursor} if cursor else {})}
            body = self.call("GET", path, name=name, params=query, revalidate=page == 0)
            if not body:
                break
            items += body.get("items", [])
            cursor = body.get("next_cursor")
            if not cursor:
                break
        return items

    def one_of(self, items: list[dict]) -> dict | None:
        return random.choice(items) if items else None
