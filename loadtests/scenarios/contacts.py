"""Locust scenario: a client paging through contact listings by cursor, at any depth."""

from __future__ import annotations

import os
import random

from locust import HttpUser, between, task

TOKEN = os.environ.get("KITH_TOKEN", "")
SORTS = ["score", "name", "last_interaction", "created"]


class ContactBrowser(HttpUser):
    """Opens a listing and follows next_cursor for a while, as a scrolling client does."""

    wait_time = between(0.0, 0.05)

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {TOKEN}"

    @task(5)
    def scroll_contacts(self) -> None:
        params = {"sort": random.choice(SORTS), "limit": 50}
        cursor = None
        for _ in range(random.randint(1, 20)):
            response = self.client.get(
                "/api/v1/contacts", params={**params, **({"cursor": cursor} if cursor else {})}, name="/api/v1/contacts"
            )
            cursor = response.json().get("next_cursor") if response.ok else None
            if not cursor:
                break

    @task(1)
    def upcoming_birthdays(self) -> None:
        self.client.get("/api/v1/contacts/birthdays", params={"within_days": 30}, name="/api/v1/contacts/birthdays")

    @task(1)
    def overdue(self) -> None:
        self.client.get("/api/v1/contacts/overdue", name="/api/v1/contacts/overdue")
