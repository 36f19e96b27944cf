"""What `q` becomes: the body of a LIKE pattern matching it anywhere in a contact's search key (db/views/contact_cards.sql)."""

from __future__ import annotations

import re
from typing import Annotated

from litestar.params import Parameter

SearchQuery = Annotated[
    str | None,
    Parameter(
        max_length=200,
        description="Any part of a name, an email, a phone number's digits or a company, ignoring case and accents"
        " (muller finds Müller). Empty: no filter.",
    ),
]

# A phone number as people write it (+1 (555) 010-1234): the key holds phones as their digits only.
PHONE_NUMBER = re.compile(r"[0-9+()./\s-]*[0-9][0-9+()./\s-]*")
LIKE_SPECIAL = re.compile(r"([\\%_])")


def like_body(q: str | None) -> str | None:
    """None (no filter) for an absent or blank `q`; LIKE's own characters in it match themselves."""
    q = (q or "").strip()
    if not q:
        return None
    if PHONE_NUMBER.fullmatch(q):
        q = re.sub(r"\D", "", q)
    return LIKE_SPECIAL.sub(r"\\\1", q)
