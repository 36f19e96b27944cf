"""kith.text: what PostgreSQL refuses, found and cleaned; JSON depth counted without decoding."""

from __future__ import annotations

import json

import msgspec
import pytest

from kith.text import json_depth, pg_text, pg_texts, refused_by_postgres, repair_lone_surrogates


@pytest.mark.parametrize(
    ("value", "refused", "cleaned"),
    [
        ("plain", False, "plain"),
        ("ünïcödé 🎉", False, "ünïcödé 🎉"),
        ("a\x00b", True, "ab"),
        ("é\x00", True, "é"),
        ("a\ud800b", True, "a\ufffdb"),
        ("\udfff\x00", True, "\ufffd"),
    ],
)
def test_pg_text(value, refused, cleaned):
    assert refused_by_postgres(value) is refused
    assert pg_text(value) == cleaned
    assert pg_texts([value, "x"]) == [cleaned, "x"]


@pytest.mark.parametrize(
    ("document", "depth"),
    [
        (b"1", 0),
        (b"[]", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'["[[[[", "]]]"]', 1),  # brackets in strings are no nesting
        (b'["\\"[[[", "\\\\", [[]]]', 3),  # escaped quotes and backslashes
        (b"[" * 1000 + b"]" * 1000, 1000),
    ],
)
def test_json_depth(document, depth):
    assert json_depth(document) == depth


def test_lone_surrogate_escapes_become_replacement_characters():
    document = json.dumps(["a\ud800b", "\\ud800 is text", "pair 😀", "\udc00"]).encode()
    assert msgspec.json.decode(repair_lone_surrogates(document)) == ["a\ufffdb", "\\ud800 is text", "pair 😀", "\ufffd"]
    assert repair_lone_surrogates(b'["fine"]') == b'["fine"]'
