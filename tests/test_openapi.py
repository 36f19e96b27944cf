"""The OpenAPI document says what the server does (schemathesis checks it broadly: tests/test_contract.py)."""

from __future__ import annotations

import re

import pytest

from kith.contacts.schemas import BIRTHDAY_PATTERN
from kith.readmodels.models import CONTACT_CARDS

UPLOAD_TYPES = {"multipart/form-data", "application/octet-stream", "text/vcard", "application/mbox", "text/csv"}


@pytest.fixture
async def document(client) -> dict:
    return (await client.get("/schema/openapi.json")).json()


def operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


async def test_every_error_is_a_problem_document(document):
    seen = set()
    for path, method, operation in operations(document):
        for code, response in operation["responses"].items():
            if int(code) >= 400:
                assert response["content"] == {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}
                }, (path, method, code)
                seen.add(int(code))
    assert {400, 401, 403, 404, 409, 413, 415, 422, 429, 503} <= seen
    problem = document["components"]["schemas"]["ProblemDetails"]
    assert set(problem["required"]) == {"status", "title"}
    assert "status_code" not in str(document)


async def test_every_api_route_documents_its_statuses_and_headers(document):
    for path, method, operation in operations(document):
        responses = operation["responses"]
        if not path.startswith("/api/"):
            continue
        # The OAuth callback is the one API route without a token (the browser comes back from the provider).
        token_statuses = {"401", "403"} if operation.get("security") else set()
        assert {"400", "429"} | token_statuses <= set(responses), (path, method)
        assert "Retry-After" in responses["429"]["headers"]
        assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(responses["429"]["headers"])
        if "{" in path and method in ("get", "patch", "delete"):
            assert "404" in responses, (path, method)
    listing = document["paths"]["/api/v1/contacts"]["get"]["responses"]
    assert "304" in listing
    assert {"ETag", "Link", "X-Data-As-Of", "RateLimit-Limit", "X-Request-ID"} <= set(listing["200"]["headers"])
    assert "503" in document["paths"]["/ready"]["get"]["responses"]


async def test_request_bodies_are_described(document):
    upload = document["paths"]["/api/v1/sync/{source}"]["post"]
    content = upload["requestBody"]["content"]
    assert set(content) >= UPLOAD_TYPES
    assert content["application/json"]["schema"]["type"] == "array"
    assert {"413", "415", "422"} <= set(upload["responses"])
    assert "Location" in upload["responses"]["202"]["headers"]
    create = document["components"]["schemas"]["ContactCreate"]
    assert create["additionalProperties"] is False
    assert create["required"] == ["full_name"]
    assert create["properties"]["emails"]["items"]["pattern"]
    assert document["components"]["schemas"]["ContactPatch"]["additionalProperties"] is False


async def test_parameters_are_bounded_as_the_server_bounds_them(document):
    params = {p["name"]: p["schema"] for p in document["paths"]["/api/v1/contacts"]["get"]["parameters"]}
    assert params["cursor"]["minLength"] == 1
    assert params["min_score"]["minimum"] == 0
    assert params["limit"] == {**params["limit"], "minimum": 1, "maximum": 200}
    assert "oneOf" not in params["tag"]  # a query value is never null
    assert params["tag"]["pattern"] == "^[^\\x00]*$"
    contact_id = document["paths"]["/api/v1/contacts/{contact_id}"]["get"]["parameters"][0]["schema"]
    assert contact_id["maximum"] == 2**63 - 1 and isinstance(contact_id["maximum"], int)


@pytest.mark.parametrize(
    "value, valid",
    [
        ("2023-02-28", True),
        ("2023-02-30", False),
        ("2023-02-29", False),
        ("2024-02-29", True),
        ("2000-02-29", True),
        ("1900-02-29", False),
        ("--02-29", True),
        ("--04-31", False),
        ("0000-01-01", False),
        ("1990-13-01", False),
        ("１９９０-01-01", False),
    ],
)
async def test_birthday_schema_and_server_agree(client, make_tenant, value, valid):
    assert bool(re.search(BIRTHDAY_PATTERN, value)) is valid
    tenant = await make_tenant()
    response = await client.post("/api/v1/contacts", json={"full_name": "B", "birthday": value}, headers=tenant.headers)
    assert response.status_code == (201 if valid else 400)


async def test_options_allow_every_method_of_the_path(client):
    assert set((await client.options("/api/v1/contacts")).headers["allow"].split(", ")) == {"GET", "POST", "OPTIONS"}
    allowed = set((await client.options("/api/v1/contacts/1")).headers["allow"].split(", "))
    assert allowed == {"GET", "PATCH", "DELETE", "OPTIONS"}


async def test_data_as_of_is_written_as_the_body_writes_it(client, make_tenant, conn):
    tenant = await make_tenant()
    await client.post("/api/v1/contacts", json={"full_name": "Ada"}, headers=tenant.headers)
    cards = CONTACT_CARDS.slice_of(tenant.id).relation
    await conn.execute(f"REFRESH MATERIALIZED VIEW {cards}")
    await conn.execute(
        "INSERT INTO view_refreshes (view_name, status, as_of) VALUES ($1, 'succeeded', now()) "
        "ON CONFLICT (view_name) DO UPDATE SET as_of = now()",
        cards,
    )
    response = await client.get("/api/v1/contacts", headers=tenant.headers)
    header = response.headers["x-data-as-of"]
    assert header.endswith("Z")
    assert header == response.json()["as_of"]


async def test_a_listings_parameters_are_its_specs(document):
    """A listing's route takes what its spec declares (kith.pagination.http): the sort enum and its default,
    one parameter per filter, then limit and cursor."""
    from kith.aggregates.listings import COMPANIES, COMPANY_CONTACTS, MENTIONS, TAGS
    from kith.contacts.listings import CONTACTS, OVERDUE
    from kith.conversations.listings import CONVERSATIONS

    routes = {
        "/api/v1/contacts": CONTACTS,
        "/api/v1/contacts/overdue": OVERDUE,
        "/api/v1/companies": COMPANIES,
        "/api/v1/companies/{name}/contacts": COMPANY_CONTACTS,
        "/api/v1/tags": TAGS,
        "/api/v1/mentions": MENTIONS,
        "/api/v1/conversations": CONVERSATIONS,
    }
    for path, listing in routes.items():
        query = [p for p in document["paths"][path]["get"]["parameters"] if p["in"] == "query"]
        sort = ["sort"] if len(listing.sorts) > 1 else []
        assert [p["name"] for p in query] == [*sort, *listing.filters, "limit", "cursor"], path
        if sort:
            assert query[0]["schema"]["enum"] == list(listing.sorts), path
            assert query[0]["schema"]["default"] == listing.sort_named(None)[0], path
