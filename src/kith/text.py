"""Text PostgreSQL refuses, and JSON nested past any sane depth: found cheaply, before it does harm.

PostgreSQL `text` cannot hold a NUL character, and nothing can be encoded to
UTF-8 from a lone surrogate. Imports clean such text (`pg_text`): the file is the
user's export and one bad record must not cost the others. The API rejects it
(a 400): the client sent it and can fix it.
"""

from __future__ import annotations

import re
from itertools import accumulate

# Deeper than any body Kith accepts (a contact is 3 levels, a LinkedIn push 3), far below the recursion limit.
MAX_JSON_DEPTH = 32

_REFUSED = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DEPTH_STEP = [0] * 256
_DEPTH_STEP[ord("[")] = _DEPTH_STEP[ord("{")] = 1
_DEPTH_STEP[ord("]")] = _DEPTH_STEP[ord("}")] = -1
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# An escaped backslash, a surrogate pair, or a lone surrogate, as JSON escapes (RFC 8259 allows lone
# ones in its grammar; msgspec rejects them as malformed).
_JSON_SURROGATES = re.compile(
    rb"(\\\\)|(\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2})|\\u[dD][89a-fA-F][0-9a-fA-F]{2}"
)


def refused_by_postgres(value: str) -> bool:
    """True when `value` holds a NUL or a lone surrogate."""
    # isascii() is O(1) in CPython, and an ASCII string holds no surrogate: one memchr for most text.
    return "\x00" in value if value.isascii() else _REFUSED.search(value) is not None


def pg_text(value: str | None) -> str | None:
    """`value` as PostgreSQL can store it: NULs dropped, lone surrogates replaced by U+FFFD."""
    if value is None or not refused_by_postgres(value):
        return value
    return _SURROGATE.sub("\ufffd", value.replace("\x00", ""))


def pg_texts(values: list[str]) -> list[str]:
    return [pg_text(v) for v in values] if any(map(refused_by_postgres, values)) else values  # type: ignore[misc]


def json_depth(data: bytes) -> int:
    """How deeply the arrays and objects of a JSON document nest, counted without decoding it."""
    # Escapes go first (backslashes pair left to right), so every quote left delimits a string, and
    # the pieces between quotes alternate outside / inside a string: brackets inside one are no nesting.
    unescaped = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(unescaped.split(b'"')[::2]).translate(None, _BRACKETS)
    return max(accumulate(_DEPTH_STEP[b] for b in brackets), default=0)


def repair_lone_surrogates(data: bytes) -> bytes:
    """The JSON document with each lone surrogate escape (`\\ud800` alone) written as `\\ufffd`."""
    if not _SURROGATE_ESCAPE.search(data):
        return data
    return _JSON_SURROGATES.sub(lambda m: m.group(1) or m.group(2) or rb"\ufffd", data)
