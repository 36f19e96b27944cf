"""Opaque, signed keyset cursors: the one cursor module every listing uses.

A cursor is `base64url(msgpack([version, direction, key])) "." base64url(mac)`
where `key` is the last (or first) row's sort key and `mac` is an HMAC-SHA256
under KITH_SECRET_KEY over the payload *and* a binding: tenant, endpoint, sort
and filters. So a cursor is only valid for the listing that issued it; a forged,
truncated, foreign or old-format cursor fails to decode and is a 400, never a
silently wrong page.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from kith.problems import bad_request

CURSOR_VERSION = 1
MAC_BYTES = 16
MAX_CURSOR_LENGTH = 1024

Direction = Literal["next", "prev"]
_DIRECTION_CODES: dict[Direction, str] = {"next": "n", "prev": "p"}
_CODE_DIRECTIONS = {code: name for name, code in _DIRECTION_CODES.items()}


@dataclass(frozen=True, slots=True)
class Binding:
    """What a cursor belongs to: it is valid only for this exact listing."""

    tenant_id: int
    endpoint: str
    sort: str
    filters: Mapping[str, Any]
    # What a cursor's MAC covers of it; computed once (a page signs up to three: the one it read, next, prev).
    digest: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        canonical = msgspec.json.encode(
            [self.tenant_id, self.endpoint, self.sort, sorted((k, v) for k, v in self.filters.items() if v is not None)]
        )
        object.__setattr__(self, "digest", hashlib.sha256(canonical).digest())


@dataclass(frozen=True, slots=True)
class Position:
    direction: Direction
    key: tuple[Any, ...]


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _plain(value: Any) -> Any:
    # Datetimes travel as ISO strings (naive ones too: -infinity sentinels come back naive).
    return value.isoformat() if isinstance(value, dt.datetime | dt.date) else value


class CursorCodec:
    def __init__(self, secret_key: str) -> None:
        self._key = hashlib.sha256(b"kith-cursor:" + secret_key.encode()).digest()

    def _mac(self, payload: bytes, binding: Binding) -> bytes:
        return hmac.new(self._key, payload + binding.digest, hashlib.sha256).digest()[:MAC_BYTES]

    def encode(self, position: Position, binding: Binding) -> str:
        payload = msgspec.msgpack.encode(
            [CURSOR_VERSION, _DIRECTION_CODES[position.direction], [_plain(v) for v in position.key]]
        )
        return f"{_b64encode(payload)}.{_b64encode(self._mac(payload, binding))}"

    def decode(self, cursor: str, binding: Binding, key_types: Sequence[type]) -> Position:
        """The position a cursor names, or a 400 problem if it is not a valid cursor of this listing."""
        if len(cursor) > MAX_CURSOR_LENGTH or cursor.count(".") != 1:
            raise bad_request("Malformed cursor", cursor_error="malformed")
        encoded_payload, encoded_mac = cursor.split(".")
        try:
            payload, mac = _b64decode(encoded_payload), _b64decode(encoded_mac)
        except (binascii.Error, ValueError):
            raise bad_request("Malformed cursor", cursor_error="malformed") from None
        if not hmac.compare_digest(mac, self._mac(payload, binding)):
            # Forged, truncated, or issued for another tenant / endpoint / sort / filter set.
            raise bad_request("This cursor was not issued for this listing", cursor_error="foreign_or_forged")
        try:
            version, direction_code, key = msgspec.msgpack.decode(payload, type=tuple[int, str, list[Any]])
        except msgspec.DecodeError:
            raise bad_request("Malformed cursor", cursor_error="malformed") from None
        if version != CURSOR_VERSION:
            raise bad_request(
                "This cursor is from an older version; start again from the first page", cursor_error="stale_format"
            )
        if direction_code not in _CODE_DIRECTIONS or len(key) != len(key_types):
            raise bad_request("Malformed cursor", cursor_error="malformed")
        try:
            typed = tuple(msgspec.convert(v, t, strict=False) for v, t in zip(key, key_types, strict=True))
        except msgspec.ValidationError:
            raise bad_request("Malformed cursor", cursor_error="malformed") from None
        return Position(_CODE_DIRECTIONS[direction_code], typed)
