"""Secrets at rest and in flight: connection tokens, and the OAuth `state` a browser carries.

Both are Fernet tokens (cryptography: AES-128-CBC with an HMAC-SHA256, so tampering is detected).
Connection tokens are encrypted under KITH_TOKEN_KEYS (newest first, so keys can be rotated:
the first encrypts, any decrypts), else under a key derived from the secret key. The state is
encrypted under a key of its own, derived from the secret key: the provider and the browser carry
it without being able to read it (it holds the PKCE verifier) or forge it.
"""

from __future__ import annotations

import base64
from functools import cache
from typing import TypeVar

import msgspec
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kith.config import get_settings

__all__ = ["InvalidToken", "open_state", "open_token", "seal_state", "seal_token"]

T = TypeVar("T")


def _derived_key(secret: str, purpose: bytes) -> bytes:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret.encode())
    return base64.urlsafe_b64encode(key)


@cache
def _token_cipher(keys: tuple[str, ...] | None, secret: str) -> MultiFernet:
    return MultiFernet([Fernet(k) for k in keys] if keys else [Fernet(_derived_key(secret, b"kith connection tokens"))])


@cache
def _state_cipher(secret: str) -> Fernet:
    return Fernet(_derived_key(secret, b"kith oauth state"))


def _tokens() -> MultiFernet:
    settings = get_settings()
    return _token_cipher(settings.connectors.token_keys, settings.secret_key)


def seal_token(value: str) -> bytes:
    return _tokens().encrypt(value.encode())


def open_token(sealed: bytes) -> str:
    return _tokens().decrypt(bytes(sealed)).decode()


def seal_state(payload: msgspec.Struct) -> str:
    return _state_cipher(get_settings().secret_key).encrypt(msgspec.json.encode(payload)).decode()


def open_state(state: str, kind: type[T], max_age_seconds: int) -> T:
    """The payload of a state this server sealed less than `max_age_seconds` ago; InvalidToken otherwise."""
    data = _state_cipher(get_settings().secret_key).decrypt(state.encode(), ttl=max_age_seconds)
    return msgspec.json.decode(data, type=kind)
