"""Which of a tenant's companies a news item names: one pass over the text, whatever the number of companies.

The matcher is an Aho–Corasick automaton (pyahocorasick) over the normalized company names, built
once per import: finding every name in a text costs time linear in the text (plus the matches),
not in the number of companies. A name counts only as whole words: "Acme" is named by "Acme's
results" or "(Acme)", not by "Acmeville". Names and text are compared normalized: Unicode NFKC,
case-folded, whitespace runs as one space. Names that normalize alike ("Acme", "ACME") are all named.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import ahocorasick

_WHITESPACE = re.compile(r"\s+")
# A name shorter than this (normalized) names too much by accident.
MIN_NAME_LENGTH = 2


def normalize(text: str) -> str:
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


class CompanyMatcher:
    def __init__(self, names: Iterable[str]) -> None:
        spellings: dict[str, list[str]] = {}
        for name in names:
            key = normalize(name)
            if len(key) >= MIN_NAME_LENGTH:
                spellings.setdefault(key, []).append(name)
        self._automaton = ahocorasick.Automaton()
        for key, originals in spellings.items():
            self._automaton.add_word(key, (len(key), tuple(originals)))
        if spellings:
            self._automaton.make_automaton()
        self.size = len(spellings)

    def find(self, *texts: str | None) -> list[str]:
        """The company names (as the contacts spell them) occurring as whole words in any of the texts, sorted."""
        if not self.size:
            return []
        found: set[str] = set()
        for text in texts:
            if not text:
                continue
            haystack = normalize(text)
            last = len(haystack) - 1
            for end, (length, originals) in self._automaton.iter(haystack):
                start = end - length + 1
                if (start == 0 or not _is_word_char(haystack[start - 1])) and (
                    end == last or not _is_word_char(haystack[end + 1])
                ):
                    found.update(originals)
        return sorted(found)
