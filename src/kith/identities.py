"""Who a contact is, as imports and the API see it: strong keys, content keys and field precedence.

A strong key (an email, a phone in E.164, a profile URL, a source's own UID) names one person: a record
carrying one attaches to the contact holding it. A record with none (a company card with only a name) is
matched on a content key, a hash of what identifies it, within its own source. Between sources, the
precedence (kith.config.SyncSettings.field_precedence) ranks who may replace whose value of a field.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from urllib.parse import quote, unquote, urlsplit

import phonenumbers

# The fields whose provenance is kept: one value each, or a set whose every value has its own.
SCALAR_FIELDS = ("full_name", "company", "title", "birthday", "notes")
SET_FIELDS = ("emails", "phones", "tags", "links")
# The source a value set through the API is credited to; it outranks every import.
USER = "user"
# The rank of a source the precedence does not name (ties between such sources go by name).
UNRANKED = 999


def e164(phone: str, region: str) -> str | None:
    """The number in E.164 (`+4930123456`), or None when it is not a possible phone number."""
    try:
        number = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_linkedin_url(value: str | None) -> str | None:
    """`https://www.linkedin.com/in/<slug>` for a profile URL (any host spelling, query, slash or case).

    Other URLs come back with a lowercased host, https, and no query,
    fragment or trailing slash; an empty value, or one no URL parser accepts
    (an unbalanced `[` of an IPv6 host), gives None: it names nobody.
    """
    text = (value or "").strip()
    if not text:
        return None
    if "://" not in text:
        text = "https://" + text.lstrip("/")
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    path = parts.path.rstrip("/")
    if host == "linkedin.com" or host.endswith(".linkedin.com"):
        segments = [s for s in path.split("/") if s]
        if len(segments) >= 2 and segments[0].lower() in ("in", "pub"):
            kind = segments[0].lower()
            slug = "/".join(segments[1:]) if kind == "pub" else segments[1]
            slug = quote(unquote(slug).lower(), safe="-_.~/")
            return f"https://www.linkedin.com/{kind}/{slug}"
        host = "www.linkedin.com"
    if not host:
        return None
    return f"https://{host}{path}"


# Profile URLs that name an account on a connector's network: github.com/<login>, x.com (or twitter.com)/<handle>.
# Their first path segment is the account unless it is one of the site's own pages.
_PROFILE_HOSTS = {
    "github.com": "github",
    "www.github.com": "github",
    "x.com": "x",
    "www.x.com": "x",
    "mobile.x.com": "x",
    "twitter.com": "x",
    "www.twitter.com": "x",
    "mobile.twitter.com": "x",
}
_PROFILE_NAMES = {
    "github": re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38})"),
    "x": re.compile(r"[a-z0-9_]{1,15}"),
}
_SITE_PAGES = {
    "github": frozenset(
        [
            "about",
            "apps",
            "collections",
            "contact",
            "enterprise",
            "explore",
            "features",
            "issues",
            "join",
            "login",
            "marketplace",
            "new",
            "notifications",
            "orgs",
            "organizations",
            "pricing",
            "pulls",
            "search",
            "security",
            "settings",
            "site",
            "sponsors",
            "topics",
            "trending",
        ]
    ),
    "x": frozenset(
        [
            "compose",
            "explore",
            "hashtag",
            "home",
            "i",
            "intent",
            "login",
            "messages",
            "notifications",
            "privacy",
            "search",
            "settings",
            "share",
            "signup",
            "tos",
        ]
    ),
}


def profile_keys(links: list[str]) -> list[tuple[str, str]]:
    """The connector accounts the links name, as contact_keys (kind, value): ('github', login), ('x', handle),
    lowercased (both sites ignore case). What a GitHub or X interaction finds its contact by."""
    keys = []
    for link in links:
        text = link.strip()
        if "://" not in text:
            text = "https://" + text.lstrip("/")
        try:
            parts = urlsplit(text)
            kind = _PROFILE_HOSTS.get((parts.hostname or "").lower())
        except ValueError:
            continue
        segments = [s for s in parts.path.split("/") if s]
        if kind is None or len(segments) != 1:
            continue
        name = segments[0].lower().removeprefix("@")
        if _PROFILE_NAMES[kind].fullmatch(name) and name not in _SITE_PAGES[kind]:
            keys.append((kind, name))
    return list(dict.fromkeys(keys))


def value_identities(field: str, values: list[str], region: str) -> list[str | None]:
    """Each value's identity (`email:…`, `phone:+E164`, `url:…`), or None: aligned with `values`."""
    if field == "emails":
        return [f"email:{v.strip().lower()}" for v in values]
    if field == "phones":
        return [f"phone:{number}" if (number := e164(v, region)) else None for v in values]
    return [f"url:{url}" if (url := normalize_linkedin_url(v)) else None for v in values]


IDENTIFYING_FIELDS = ("emails", "phones", "links")


def identities(emails: list[str], phones: list[str], links: list[str], region: str) -> list[str]:
    """What names this person whoever lists them (contacts.identities): what duplicates are found on."""
    found = [
        *value_identities("emails", emails, region),
        *value_identities("phones", phones, region),
        *value_identities("links", links, region),
    ]
    return list(dict.fromkeys(i for i in found if i))


def content_key(source: str, full_name: str, company: str | None) -> str:
    """A keyless record's identity within its source: its name and company, case and spacing aside."""
    text = "\x1f".join(" ".join(part.casefold().split()) for part in (source, full_name, company or ""))
    return f"{source}:{hashlib.sha256(text.encode()).hexdigest()[:32]}"


def field_ranks(precedence: Mapping[str, tuple[str, ...]]) -> dict[str, dict[str, int]]:
    """Per provenance field, each named source's rank (0 is best; an unnamed one is UNRANKED)."""
    default = precedence.get("*", ())
    return {
        field: {source: rank for rank, source in enumerate(precedence.get(field, default))}
        for field in (*SCALAR_FIELDS, *SET_FIELDS)
    }
