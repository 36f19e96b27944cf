"""Conversations and messages: listings declared in `listings`, writes to the base tables.

A write marks what it changed (`changed_at` on the conversation, and on the
contact through its rescore), so the very next read of a listing served from a
view computes those rows live (DESIGN: fresh reads over views).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import msgspec
from litestar.status_codes import HTTP_422_UNPROCESSABLE_ENTITY
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kith.auth.principal import Principal
from kith.conversations import listings, queries
from kith.conversations.schemas import (
    MAX_MESSAGE_CHARS,
    ConversationCreate,
    ConversationSummary,
    Message,
    MessageCreate,
)
from kith.db.reads import Source
from kith.pagination.listing import Listing, ListingRequest, Position
from kith.pagination.page import Page
from kith.pagination.params import parse_time
from kith.problems import bad_request, not_found, problem
from kith.scoring.service import rescore_contact

LARGEST_ID = 2**63 - 1


def opening(before: dt.datetime | None, after: dt.datetime | None) -> Position | None:
    """Where a newest-first message listing opens: `before=t` the newest messages older than t,
    `after=t` the oldest messages newer than t (still shown newest first); neither, the newest."""
    if before is not None and after is not None:
        raise bad_request("Give before or after, not both")
    for name, moment in (("before", before), ("after", after)):
        if moment is not None and moment.utcoffset() is None:
            raise bad_request(f"{name} must be an RFC 3339 time with a UTC offset (e.g. 2026-01-31T12:00:00Z)")
    if before is not None:
        return Position("next", (before, 0))
    if after is not None:
        return Position("prev", (after, LARGEST_ID))
    return None


async def get_conversation(source: Source, tenant_id: int, conversation_id: int) -> ConversationSummary:
    request = ListingRequest(tenant_id=tenant_id, limit=1, scope={"conversation_id": conversation_id})
    page = await listings.CONVERSATION.page(source, request)
    if not page.items:  # another tenant's id looks exactly like a missing one
        raise not_found(f"No conversation {conversation_id}")
    return page.items[0]


async def list_messages(
    reader: AsyncEngine,
    listing: Listing,
    request: ListingRequest,
    before: str | None = None,
    after: str | None = None,
) -> Page[Message]:
    """A page of a thread's messages (MESSAGES, scope conversation_id) or a contact's (TIMELINE, scope contact_id)."""
    start = opening(parse_time("before", before), parse_time("after", after))
    return await listing.page(reader, replace(request, start=start))


async def create_conversation(
    session: AsyncSession, principal: Principal, data: ConversationCreate
) -> ConversationSummary:
    params = {
        "tenant_id": principal.tenant_id,
        "user_id": principal.user_id,
        "contact_id": data.contact_id,
        "channel": data.channel,
        "subject": data.subject,
    }
    conversation_id = (await session.execute(queries.CREATE_CONVERSATION, params)).scalar_one_or_none()
    if conversation_id is None:
        raise bad_request(f"No contact {data.contact_id}", field="contact_id")
    return await get_conversation(session, principal.tenant_id, conversation_id)


async def send_message(
    session: AsyncSession, principal: Principal, conversation_id: int, data: MessageCreate
) -> Message:
    if len(data.body) > MAX_MESSAGE_CHARS:
        raise problem(
            HTTP_422_UNPROCESSABLE_ENTITY,
            "Unprocessable Content",
            f"A message body is at most {MAX_MESSAGE_CHARS:,} characters; this one has {len(data.body):,}",
            field="body",
            max_length=MAX_MESSAGE_CHARS,
        )
    params = {
        "tenant_id": principal.tenant_id,
        "conversation_id": conversation_id,
        "subject": data.subject,
        "body": data.body,
    }
    row = (await session.execute(queries.SEND_MESSAGE, params)).mappings().one_or_none()
    if row is None:
        raise not_found(f"No conversation {conversation_id}")
    if row["contact_id"] is not None:
        await rescore_contact(session, principal.tenant_id, row["contact_id"])
    return msgspec.convert(dict(row), Message)
