"""The API as a week of use meets it: Location on every 201, validation in words, one time syntax, HEAD,
weak If-None-Match, a contact's ETag, rounded averages, a deleted contact's conversations gone from listings."""

from __future__ import annotations

from tests.conftest import connect

from kith.readmodels.coalesced_refresh import refresh_all


async def _contact(client, headers, **fields) -> dict:
    response = await client.post("/api/v1/contacts", json={"full_name": "Ada", **fields}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_every_201_has_a_location_that_answers(client, db, make_tenant):
    tenant = await make_tenant()
    h = tenant.headers
    created = await client.post("/api/v1/contacts", json={"full_name": "Ada"}, headers=h)
    conversation = await client.post("/api/v1/conversations", json={"contact_id": created.json()["id"]}, headers=h)
    assert conversation.status_code == 201, conversation.text
    message = await client.post(
        f"/api/v1/conversations/{conversation.json()['id']}/messages", json={"body": "hi"}, headers=h
    )
    assert message.status_code == 201, message.text
    for response in (created, conversation, message):
        location = response.headers.get("location")
        assert location, response.request.url
        fetched = await client.get(location, headers=h)
        assert fetched.status_code == 200 and fetched.json()["id"] == response.json()["id"], location
    assert message.headers["location"].endswith(f"/messages/{message.json()['id']}")


async def test_validation_messages_are_words_not_regular_expressions(client, db, make_tenant):
    tenant = await make_tenant()
    h = tenant.headers
    bad_body = await client.post(
        "/api/v1/contacts", json={"full_name": "A", "birthday": "2023-02-30", "emails": ["a b@c"]}, headers=h
    )
    bad_time = await client.get("/api/v1/mentions", params={"since": "yesterday"}, headers=h)
    bad_key = await client.post(
        "/api/v1/contacts", json={"full_name": "A"}, headers={**h, "Idempotency-Key": "has space"}
    )
    for response, words in (
        (bad_body, "a date that exists"),
        (bad_time, "an RFC 3339 time"),
        (bad_key, "visible ASCII characters"),
    ):
        assert response.status_code == 400, response.text
        messages = " ".join(e["message"] for e in response.json()["errors"])
        assert "regex" not in messages and "^" not in messages, messages
        assert words in messages, messages


async def test_before_after_and_since_take_the_same_forms(client, db, make_tenant):
    tenant = await make_tenant()
    h = tenant.headers
    contact = await _contact(client, h)
    conversation = (await client.post("/api/v1/conversations", json={"contact_id": contact["id"]}, headers=h)).json()
    thread = f"/api/v1/conversations/{conversation['id']}/messages"
    timeline = f"/api/v1/contacts/{contact['id']}/timeline"
    for value in ("2026-01-31", "2026-01-31T12:00:00", "2026-01-31T12:00:00Z", "2026-01-31T12:00:00+02:00"):
        for path, name in ((thread, "before"), (thread, "after"), (timeline, "before"), ("/api/v1/mentions", "since")):
            response = await client.get(path, params={name: value}, headers=h)
            assert response.status_code == 200, (path, name, value, response.text)


async def test_head_answers_wherever_get_does(client, db, make_tenant):
    tenant = await make_tenant()
    h = tenant.headers
    contact = await _contact(client, h)
    for path in ("/api/v1/contacts", f"/api/v1/contacts/{contact['id']}", "/api/v1/dashboard", "/health"):
        got = await client.get(path, headers=h)
        head = await client.head(path, headers=h)
        assert head.status_code == got.status_code == 200, (path, head.status_code)
        assert head.content == b""
        assert head.headers.get("etag") == got.headers.get("etag")
    assert (await client.head("/api/v1/contacts")).status_code == 401  # no token: as GET
    allow = (await client.options("/api/v1/contacts", headers=h)).headers["allow"]
    assert "HEAD" in allow


async def test_a_contact_has_an_etag_and_weak_if_none_match_matches(client, db, make_tenant):
    tenant = await make_tenant()
    h = tenant.headers
    contact = await _contact(client, h)
    one = await client.get(f"/api/v1/contacts/{contact['id']}", headers=h)
    etag = one.headers["etag"]
    assert etag.startswith('"')
    for sent in (etag, f"W/{etag}", f'"other", W/{etag}', "*"):
        again = await client.get(f"/api/v1/contacts/{contact['id']}", headers={**h, "If-None-Match": sent})
        assert again.status_code == 304, sent
    page = await client.get("/api/v1/contacts", headers=h)
    weak = await client.get("/api/v1/contacts", headers={**h, "If-None-Match": "W/" + page.headers["etag"]})
    assert weak.status_code == 304
    changed = await client.patch(f"/api/v1/contacts/{contact['id']}", json={"title": "CTO"}, headers=h)
    assert changed.status_code == 200
    after = await client.get(f"/api/v1/contacts/{contact['id']}", headers={**h, "If-None-Match": f"W/{etag}"})
    assert after.status_code == 200


async def test_averages_are_rounded(client, db, make_tenant):
    tenant = await make_tenant()
    h = tenant.headers
    for score in (10.0, 20.0, 25.0):
        contact = await _contact(client, h, company="Acme", tags=["work"])
        # Scores are computed, not written by the API: set them as the scorer would.
        conn = await connect(db)
        try:
            await conn.execute("UPDATE contacts SET score = $1 WHERE id = $2", score, contact["id"])
        finally:
            await conn.close()
    await refresh_all(db)
    company = (await client.get("/api/v1/companies/Acme", headers=h)).json()
    listed = (await client.get("/api/v1/companies", headers=h)).json()["items"][0]
    tag = (await client.get("/api/v1/tags", headers=h)).json()["items"][0]
    for average in (company["avg_score"], listed["avg_score"], tag["avg_score"]):
        assert average == 18.33


async def test_a_deleted_contacts_conversations_leave_the_listings(client, db, make_tenant):
    tenant = await make_tenant()
    h = tenant.headers
    kept, deleted = await _contact(client, h, full_name="Kept"), await _contact(client, h, full_name="Gone")
    for contact in (kept, deleted):
        made = await client.post("/api/v1/conversations", json={"contact_id": contact["id"]}, headers=h)
        assert made.status_code == 201
    await refresh_all(db)  # one read from the view, and (after the delete) one live
    assert (await client.delete(f"/api/v1/contacts/{deleted['id']}", headers=h)).status_code == 204
    listed = (await client.get("/api/v1/conversations", headers=h)).json()["items"]
    assert [c["contact_id"] for c in listed] == [kept["id"]]
    await refresh_all(db)
    listed = (await client.get("/api/v1/conversations", headers=h)).json()["items"]
    assert [c["contact_id"] for c in listed] == [kept["id"]]
