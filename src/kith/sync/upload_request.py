"""The HTTP side of an upload: the file a request carries and the window its query asks for.

The endpoint hands the service parsed values: the file's media type and its
bytes as they stream in (the first file part of a multipart form, else the
whole body; more than the limit is a 413), and the window's start.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import msgspec
from litestar import Request
from litestar.status_codes import HTTP_413_REQUEST_ENTITY_TOO_LARGE
from multipart import MultipartError, MultipartSegment, PushMultipartParser

from kith.pagination.params import in_utc
from kith.problems import bad_request, problem
from kith.sync.schemas import SourceName
from kith.sync.sources import SOURCES
from kith.sync.sources.linkedin import LinkedInConnection


def too_large(limit: int) -> Exception:
    return problem(
        HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        "Request Entity Too Large",
        f"An upload may have at most {limit} bytes",
        max_bytes=limit,
    )


def known_source(name: str) -> SourceName:
    """The source named in the URL; a 400 naming the sources there are when there is none by that name."""
    if name not in SOURCES:
        raise bad_request(
            f"No import source named {name!r}; the sources are: {', '.join(SOURCES)}", sources=list(SOURCES)
        )
    return name  # type: ignore[return-value]


def parse_since(since: str | None, days_back: int | None) -> dt.datetime | None:
    """The start of the import window: `since` (a date, or a date and time; UTC if no offset) or `days_back`."""
    if since is not None and days_back is not None:
        raise bad_request("Give either since or days_back, not both")
    if days_back is not None:
        return dt.datetime.now(dt.UTC) - dt.timedelta(days=days_back)
    if since is None:
        return None
    try:
        value = dt.datetime.fromisoformat(since)
    except ValueError:
        raise bad_request(f"since must be a date (YYYY-MM-DD) or an RFC 3339 time, not {since!r}") from None
    return in_utc(value) if value.tzinfo else value.replace(tzinfo=dt.UTC)


async def uploaded_file(request: Request, limit: int) -> tuple[str, AsyncIterator[bytes]]:
    """The media type of the file the request carries, and its bytes as they stream in."""
    media_type, params = request.content_type
    if media_type != "multipart/form-data":
        return media_type, _body(request, limit)
    if not params.get("boundary"):
        raise bad_request("multipart/form-data without a boundary")
    parts = _multipart_file(request, params["boundary"], limit)
    file_media_type = await anext(parts)  # the file part's header: its media type comes first
    assert isinstance(file_media_type, str)
    return file_media_type, parts  # type: ignore[return-value]


async def _body(request: Request, limit: int) -> AsyncIterator[bytes]:
    if (request.content_length or 0) > limit:
        raise too_large(limit)
    received = 0
    async for data in request.stream():
        received += len(data)
        if received > limit:
            raise too_large(limit)
        if data:
            yield data


async def _multipart_file(request: Request, boundary: str, limit: int) -> AsyncIterator[str | bytes]:
    """The first file part: its media type, then its bytes."""
    in_file = False
    try:
        parser = PushMultipartParser(boundary)
        async for data in _body(request, limit):
            for event in parser.parse(data):
                if isinstance(event, MultipartSegment):
                    in_file = event.filename is not None
                    if in_file:
                        yield event.content_type or "application/octet-stream"
                elif event is None and in_file:
                    return  # the file ends here; the parts after it are not read
                elif event and in_file:
                    yield bytes(event)
    except MultipartError as exc:
        raise bad_request(f"Malformed multipart body: {exc}") from None
    raise bad_request("The multipart form has no complete file part")


_FILE = {"schema": {"type": "string", "format": "binary"}}
# The upload of POST /sync/{source}, as OpenAPI describes it (kith.openapi): the file itself, a form
# whose first file part is the file, or (linkedin only) a JSON array of connections. An item that is not
# a connection becomes that record's error in the run, so any array is accepted.
UPLOAD_BODY = {
    "required": True,
    "description": (
        "The file (vCard, mbox, LinkedIn Connections.csv, Google Contacts or Outlook CSV, RSS or Atom), "
        "or a JSON array (linkedin)."
    ),
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
        "application/octet-stream": _FILE,
        "text/vcard": _FILE,
        "application/mbox": _FILE,
        "text/csv": _FILE,
        "application/xml": _FILE,
        "application/rss+xml": _FILE,
        "application/atom+xml": _FILE,
        "application/json": {
            "schema": {
                "type": "array",
                "items": {
                    "description": "A LinkedIn connection (the CSV's columns in snake_case); "
                    "another item is recorded as that record's error.",
                    "anyOf": [msgspec.json.schema_components([LinkedInConnection])[1]["LinkedInConnection"], {}],
                },
            }
        },
    },
}
