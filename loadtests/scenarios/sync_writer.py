"""The sync writer: posts LinkedIn JSON batches and small vCard, mbox and RSS files, and polls each run to its
end (a run that fails, or does not finish in time, is a failure)."""

from __future__ import annotations

import random
import time
import uuid
from email.utils import format_datetime

from locust import between, task

from scenarios.common import KithUser, mix_weight

RUN_TIMEOUT = 120  # seconds a run may take, queued included, before it counts as a failure


def linkedin_batch(count: int) -> list[dict]:
    tag = uuid.uuid4().hex[:8]
    return [
        {
            "first_name": f"Load{i}",
            "last_name": f"Tester {tag}",
            "url": f"https://www.linkedin.com/in/load-{tag}-{i}",
            "company": random.choice(["Acme", "Globex", "Initech"]),
            "position": "Engineer",
        }
        for i in range(count)
    ]


def vcard_file(count: int) -> bytes:
    tag = uuid.uuid4().hex[:8]
    return "".join(
        f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Card {i} {tag}\r\nEMAIL:card{i}.{tag}@load.example\r\nUID:load-{tag}-{i}\r\nEND:VCARD\r\n"
        for i in range(count)
    ).encode()


def mbox_file(count: int) -> bytes:
    tag = uuid.uuid4().hex[:8]
    now = time.time()
    messages = []
    for i in range(count):
        date = format_datetime(
            __import__("datetime").datetime.fromtimestamp(now - i * 3600, __import__("datetime").UTC)
        )
        messages.append(
            f"From load@load.example Mon Jan  1 00:00:00 2024\n"
            f"From: Person {i} <person{i}.{tag}@load.example>\nTo: me@load.example\n"
            f"Subject: Hello {i}\nDate: {date}\nMessage-ID: <{tag}.{i}@load.example>\n\nHi there, {i}.\n\n"
        )
    return "".join(messages).encode()


def rss_file(count: int) -> bytes:
    tag = uuid.uuid4().hex[:8]
    items = "".join(
        f"<item><title>Acme news {i} {tag}</title><link>https://news.example/{tag}/{i}</link>"
        f"<guid>{tag}-{i}</guid><description>Acme and Globex announce {i}.</description></item>"
        for i in range(count)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Load</title>{items}</channel></rss>'.encode()


class SyncWriter(KithUser):
    weight = mix_weight("sync")
    wait_time = between(2.0, 5.0)

    @task(3)
    def linkedin(self) -> None:
        self.follow(self.call("POST", "/api/v1/sync/linkedin", json=linkedin_batch(50)))

    @task(1)
    def vcard(self) -> None:
        self.upload("vcard", vcard_file(20), "text/vcard")

    @task(1)
    def mbox(self) -> None:
        self.upload("mbox", mbox_file(20), "application/mbox", params={"me": "me@load.example"})

    @task(1)
    def rss(self) -> None:
        self.upload("rss", rss_file(20), "application/rss+xml")

    def upload(self, source: str, data: bytes, media_type: str, params: dict | None = None) -> None:
        run = self.call(
            "POST", f"/api/v1/sync/{source}", params=params, data=data, headers={"Content-Type": media_type}
        )
        self.follow(run)

    def follow(self, run: dict | None) -> None:
        """Poll the run until it ends; a failed run or one past RUN_TIMEOUT is a failure."""
        if not run:
            return
        deadline = time.monotonic() + RUN_TIMEOUT
        status = run.get("status")
        while status in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.5)
            run = self.call("GET", f"/api/v1/sync/runs/{run['id']}", name="/api/v1/sync/runs/{id}") or run
            status = run.get("status")
        with self.client.get(
            f"/api/v1/sync/runs/{run['id']}", name="/api/v1/sync/runs/{id} (finished)", catch_response=True
        ) as response:
            if status != "succeeded":
                response.failure(f"run {run['id']} ended {status}: {run.get('error')}")
            else:
                response.success()
