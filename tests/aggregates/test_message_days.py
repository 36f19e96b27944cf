"""The dashboard's activity series: messages per tenant-local day, sent and received, dense."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from tests.conftest import connect

from kith.readmodels.coalesced_refresh import refresh_all

ZONE = "Pacific/Auckland"


async def test_messages_per_local_day_dense_with_sent_and_received(client, db, make_tenant):
    tenant = await make_tenant("daily", time_zone=ZONE)
    today = dt.datetime.now(ZoneInfo(ZONE)).date()
    noon = lambda days_ago: dt.datetime.combine(  # noqa: E731
        today - dt.timedelta(days=days_ago), dt.time(12), tzinfo=ZoneInfo(ZONE)
    )
    # Local day − 2 has 2 in + 1 out; day − 1 none; today 1 out; and one 5 minutes into today, local,
    # which UTC still dates yesterday (Auckland is ahead of UTC).
    sent_at = [(noon(2), "in"), (noon(2), "in"), (noon(2), "out"), (noon(0), "out")]
    sent_at.append((dt.datetime.combine(today, dt.time(0, 5), tzinfo=ZoneInfo(ZONE)), "in"))
    conn = await connect(db)
    try:
        conversation = await conn.fetchval(
            "INSERT INTO conversations (tenant_id, user_id, external_id) VALUES ($1, $2, 'c') RETURNING id",
            tenant.id,
            tenant.user_id,
        )
        for i, (moment, direction) in enumerate(sent_at):
            await conn.execute(
                "INSERT INTO messages (tenant_id, conversation_id, direction, sent_at, external_id)"
                " VALUES ($1, $2, $3, $4, $5)",
                tenant.id,
                conversation,
                direction,
                moment,
                f"m{i}",
            )
    finally:
        await conn.close()
    await refresh_all(db)
    response = await client.get("/api/v1/dashboard/messages/daily", params={"days": 4}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["days"] == 4 and body["as_of"]
    assert [(d["day"], d["messages"], d["sent"], d["received"]) for d in body["series"]] == [
        ((today - dt.timedelta(days=3)).isoformat(), 0, 0, 0),
        ((today - dt.timedelta(days=2)).isoformat(), 3, 1, 2),
        ((today - dt.timedelta(days=1)).isoformat(), 0, 0, 0),
        (today.isoformat(), 2, 1, 1),
    ]
    assert response.headers["etag"]
    again = await client.get(
        "/api/v1/dashboard/messages/daily",
        params={"days": 4},
        headers={**tenant.headers, "If-None-Match": response.headers["etag"]},
    )
    assert again.status_code == 304
