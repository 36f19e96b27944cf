"""The web client, as a browser uses it: the dashboard and the side views, a contact and its timeline; now
and then an edit or a sent message, checked in the very next read (a write is never stale)."""

from __future__ import annotations

import random
import uuid

from locust import between, task

from scenarios.common import KithUser, mix_weight


class WebClient(KithUser):
    weight = mix_weight("web")
    wait_time = between(0.5, 2.0)

    @task(3)
    def dashboard(self) -> None:
        self.call("GET", "/api/v1/dashboard", revalidate=True)

    @task(2)
    def side_views(self) -> None:
        self.call("GET", "/api/v1/contacts/birthdays", params={"within_days": 30}, revalidate=True)
        self.call("GET", "/api/v1/contacts/overdue", revalidate=True)
        companies = self.call("GET", "/api/v1/companies", revalidate=True)
        self.call("GET", "/api/v1/tags", revalidate=True)
        company = self.one_of((companies or {}).get("items", []))
        self.call("GET", "/api/v1/mentions", params={"company": company["name"]} if company else {}, revalidate=True)

    @task(3)
    def contact_card(self) -> None:
        page = self.call("GET", "/api/v1/contacts", params={"limit": 20}, revalidate=True)
        contact = self.one_of((page or {}).get("items", []))
        if contact:
            self.call("GET", f"/api/v1/contacts/{contact['id']}", name="/api/v1/contacts/{id}")
            self.call("GET", f"/api/v1/contacts/{contact['id']}/timeline", name="/api/v1/contacts/{id}/timeline")

    @task(1)
    def edit_a_contact(self) -> None:
        page = self.call("GET", "/api/v1/contacts", params={"limit": 20, "sort": "created"}, revalidate=True)
        contact = self.one_of((page or {}).get("items", []))
        if not contact:
            return
        title = f"Load test {uuid.uuid4().hex[:8]}"
        path = f"/api/v1/contacts/{contact['id']}"
        if self.call("PATCH", path, name="/api/v1/contacts/{id}", json={"title": title}) is None:
            return
        self.check_read("/api/v1/contacts/{id} (after a write)", path, lambda body: body.get("title") == title)

    @task(1)
    def send_a_message(self) -> None:
        page = self.call("GET", "/api/v1/conversations", params={"limit": 20}, revalidate=True)
        conversation = self.one_of((page or {}).get("items", []))
        if not conversation:
            return
        text = f"Load test message {uuid.uuid4().hex[:8]}"
        path = f"/api/v1/conversations/{conversation['id']}/messages"
        if self.call("POST", path, name="/api/v1/conversations/{id}/messages", json={"body": text}) is None:
            return
        self.check_read(
            "/api/v1/conversations/{id}/messages (after a write)",
            path,
            lambda body: any(m.get("body") == text for m in body.get("items", [])[:5]),
        )

    def check_read(self, name: str, path: str, holds) -> None:
        """The very next read must show the write: otherwise a failure, whatever its status."""
        with self.client.get(path, name=name, params={"limit": 5}, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")
            elif not holds(response.json()):
                response.failure("the write is not in the next read")
            else:
                response.success()

    def on_start(self) -> None:
        super().on_start()
        random.seed()
