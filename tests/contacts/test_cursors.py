"""Hostile cursors and parameters: always a 400 problem document, never a 500 or a wrong page."""

from __future__ import annotations

import base64

import msgspec
import pytest

from kith.pagination.cursor import Binding, CursorCodec, Position
from kith.pagination.page import codec


def is_problem(response, status=400):
    return response.status_code == status and response.headers["content-type"].startswith("application/problem+json")


@pytest.fixture
async def next_cursor(client, populated):
    body = (await client.get("/api/v1/contacts", params={"limit": 5, "sort": "name"}, headers=populated.headers)).json()
    return body["next_cursor"]


def _flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


@pytest.mark.parametrize(
    "mangle",
    [
        lambda c: "garbage",
        lambda c: "",
        lambda c: c[:-3],  # truncated signature
        lambda c: c[: c.index(".") - 2] + c[c.index(".") :],  # truncated payload
        lambda c: _flip(c, 3),  # tampered payload
        lambda c: c.replace(".", ""),
        lambda c: c + ".extra",
        lambda c: "!!!!." + c.split(".")[1],
        lambda c: "x" * 5000,
    ],
    ids=["garbage", "empty", "trunc-mac", "trunc-payload", "tampered", "no-dot", "extra-part", "bad-b64", "huge"],
)
async def test_malformed_or_forged_cursor_is_400(client, populated, next_cursor, mangle):
    response = await client.get(
        "/api/v1/contacts", params={"sort": "name", "cursor": mangle(next_cursor)}, headers=populated.headers
    )
    assert is_problem(response), response.text


@pytest.mark.parametrize(
    "path, params",
    [
        ("/api/v1/contacts", {"sort": "score"}),  # other sort
        ("/api/v1/contacts", {"sort": "name", "tag": "work"}),  # other filters
        ("/api/v1/contacts", {"sort": "name", "q": "a"}),
        ("/api/v1/contacts/overdue", {}),  # other endpoint
        ("/api/v1/contacts/birthdays", {}),
    ],
)
async def test_cursor_of_another_listing_is_400(client, populated, next_cursor, path, params):
    response = await client.get(path, params={**params, "cursor": next_cursor}, headers=populated.headers)
    assert is_problem(response)
    assert response.json()["cursor_error"] == "foreign_or_forged"


async def test_cursor_of_another_tenant_is_400(client, populated, next_cursor, make_tenant):
    other = await make_tenant("other")
    response = await client.get(
        "/api/v1/contacts", params={"sort": "name", "cursor": next_cursor}, headers=other.headers
    )
    assert is_problem(response)


async def test_cursor_signed_with_another_key_is_400(client, populated):
    forged = CursorCodec("not-the-server-key").encode(
        Position("next", ("a", 1)),
        Binding(populated.id, "contacts", "name", {"tag": None, "company": None, "q": None, "min_score": None}),
    )
    response = await client.get(
        "/api/v1/contacts", params={"sort": "name", "cursor": forged}, headers=populated.headers
    )
    assert is_problem(response)


async def test_old_format_cursor_is_400_with_its_own_reason(client, populated):
    binding = Binding(populated.id, "contacts", "name", {})
    payload = msgspec.msgpack.encode([0, "n", ["a", 1]])  # version 0, properly signed
    mac = codec()._mac(payload, binding)
    old = (
        base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
        + "."
        + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    )
    response = await client.get("/api/v1/contacts", params={"sort": "name", "cursor": old}, headers=populated.headers)
    assert is_problem(response)
    assert response.json()["cursor_error"] == "stale_format"


async def test_well_signed_cursor_with_wrong_key_shape_is_400(client, populated):
    binding = Binding(populated.id, "contacts", "name", {})
    for key in (["only-one"], [1, "swapped"], ["a", 1, 2]):
        payload = msgspec.msgpack.encode([1, "n", key])
        mac = codec()._mac(payload, binding)
        token = (
            base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
            + "."
            + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
        )
        response = await client.get(
            "/api/v1/contacts", params={"sort": "name", "cursor": token}, headers=populated.headers
        )
        assert is_problem(response), key


@pytest.mark.parametrize(
    "path, params",
    [
        ("/api/v1/contacts", {"limit": 0}),
        ("/api/v1/contacts", {"limit": 201}),
        ("/api/v1/contacts", {"limit": -5}),
        ("/api/v1/contacts", {"limit": "ten"}),
        ("/api/v1/contacts", {"limit": "1e9"}),
        ("/api/v1/contacts", {"sort": "shoe_size"}),
        ("/api/v1/contacts", {"min_score": "high"}),
        ("/api/v1/contacts", {"min_score": -1}),
        ("/api/v1/contacts", {"q": "x" * 300}),
        ("/api/v1/contacts/birthdays", {"within_days": 0}),
        ("/api/v1/contacts/birthdays", {"within_days": 367}),
        ("/api/v1/contacts/birthdays", {"within_days": "soon"}),
        ("/api/v1/contacts/overdue", {"limit": 1000}),
    ],
)
async def test_out_of_range_parameters_are_400(client, populated, path, params):
    response = await client.get(path, params=params, headers=populated.headers)
    assert is_problem(response), response.text


@pytest.mark.parametrize(
    "path",
    ["/api/v1/contacts/abc", "/api/v1/contacts/99999999999999999999999", "/api/v1/contacts/-1", "/api/v1/contacts/0"],
)
async def test_bad_ids_are_4xx_problems(client, populated, path):
    response = await client.get(path, headers=populated.headers)
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith("application/problem+json")
