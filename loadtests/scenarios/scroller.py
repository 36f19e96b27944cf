"""The mobile scroller: opens a listing and follows next_cursor to a depth it picks, with think time, and
comes back to the first page now and then with If-None-Match (a 304 when nothing changed)."""

from __future__ import annotations

import random

from locust import between, task

from scenarios.common import KithUser, mix_weight

SORTS = ["score", "name", "last_interaction", "created"]


class MobileScroller(KithUser):
    weight = mix_weight("scroller")
    wait_time = between(0.2, 1.0)

    def depth(self) -> int:
        return random.choice([1, 1, 2, 3, 5, 10, 20, 40])

    @task(4)
    def contacts(self) -> None:
        self.walk(
            "/api/v1/contacts", name="/api/v1/contacts", depth=self.depth(), params={"sort": random.choice(SORTS)}
        )

    @task(2)
    def conversations(self) -> None:
        self.walk("/api/v1/conversations", name="/api/v1/conversations", depth=self.depth())

    @task(2)
    def thread(self) -> None:
        page = self.call("GET", "/api/v1/conversations", params={"limit": 20}, revalidate=True)
        conversation = self.one_of((page or {}).get("items", []))
        if conversation:
            self.walk(
                f"/api/v1/conversations/{conversation['id']}/messages",
                name="/api/v1/conversations/{id}/messages",
                depth=self.depth(),
            )

    @task(1)
    def timeline(self) -> None:
        page = self.call("GET", "/api/v1/contacts", params={"limit": 20}, revalidate=True)
        contact = self.one_of((page or {}).get("items", []))
        if contact:
            self.walk(
                f"/api/v1/contacts/{contact['id']}/timeline", name="/api/v1/contacts/{id}/timeline", depth=self.depth()
            )
