"""Google Calendar through a connection: meetings become interactions with the people met."""

from __future__ import annotations

import datetime as dt

from kith.connectors.oauth import GOOGLE_SCOPES

ME = "me@example.com"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def attendee(email: str, **fields) -> dict:
    return {"email": email, "responseStatus": "accepted", **fields}


async def meetings(conn, tenant_id: int) -> dict[str, list[str]]:
    rows = await conn.fetch(
        """SELECT c.external_id AS event, k.emails[1] AS email FROM messages m
           JOIN conversations c ON c.id = m.conversation_id JOIN contacts k ON k.id = m.contact_id
           WHERE m.tenant_id = $1 AND m.channel = 'meeting' ORDER BY 1, 2""",
        tenant_id,
    )
    found: dict[str, list[str]] = {}
    for row in rows:
        found.setdefault(row["event"], []).append(row["email"])
    return found


async def test_meetings_full_then_incremental_with_changes_cancellations_and_an_expired_token(
    client, conn, make_tenant, google, connect
):
    google.put_event(
        "ev1",
        "Design review",
        NOW - dt.timedelta(days=3),
        [
            attendee(ME, self=True),
            attendee("ada@example.com", displayName="Ada Lovelace"),
            attendee("room-1@resource.calendar.google.com", resource=True),
            attendee("bob@example.com", responseStatus="declined"),
        ],
    )
    google.put_event(
        "ev2", "Lunch", NOW - dt.timedelta(days=1), [attendee(ME, self=True), attendee("carol@example.com")]
    )
    google.put_event("old", "Long ago", NOW - dt.timedelta(days=400), [attendee("dan@example.com")])
    tenant = await make_tenant()
    connection_id = await connect(tenant, google.grant(GOOGLE_SCOPES), days_back=30)

    assert await meetings(conn, tenant.id) == {"event/ev1": ["ada@example.com"], "event/ev2": ["carol@example.com"]}
    ada = await conn.fetchrow(
        "SELECT full_name, last_interaction_at FROM contacts WHERE 'ada@example.com' = ANY(emails)"
    )
    assert ada["full_name"] == "Ada Lovelace" and ada["last_interaction_at"] == NOW - dt.timedelta(days=3)
    assert await conn.fetchval("SELECT count(*) FROM contacts WHERE 'bob@example.com' = ANY(emails)") == 0

    # Ada leaves the review and Erin joins; lunch is cancelled.
    google.put_event(
        "ev1", "Design review", NOW - dt.timedelta(days=3), [attendee(ME, self=True), attendee("erin@example.com")]
    )
    google.cancel_event("ev2")
    google.requests.clear()
    response = await client.post(f"/api/v1/connections/{connection_id}/sync", headers=tenant.headers)
    run = (await client.get(response.headers["location"], headers=tenant.headers)).json()
    assert run["status"] == "succeeded", run
    assert run["stages"]["sync"]["deleted"]["meetings"] == 2
    assert google.count("/calendar/v3/calendars/primary/events", "syncToken=cal-") == 1
    assert await meetings(conn, tenant.id) == {"event/ev1": ["erin@example.com"]}

    # An expired sync token: a full sync, nothing doubled.
    google.put_event("ev3", "Coffee", NOW - dt.timedelta(hours=5), [attendee("ada@example.com")])
    google.expire_calendar_tokens()
    response = await client.post(f"/api/v1/connections/{connection_id}/sync", headers=tenant.headers)
    run = (await client.get(response.headers["location"], headers=tenant.headers)).json()
    assert any("410" in note for note in run["stages"]["sync"]["notes"])
    assert await meetings(conn, tenant.id) == {"event/ev1": ["erin@example.com"], "event/ev3": ["ada@example.com"]}
