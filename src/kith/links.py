"""URLs Kith hands out (Location, Link): on the configured public URL, else relative; never on the Host header."""

from __future__ import annotations

from kith.config import get_settings


def link_to(path: str) -> str:
    """`path` (with its query) as clients should follow it: KITH_PUBLIC_URL + path, or the path alone."""
    base = get_settings().http.public_url
    return base + path if base else path
