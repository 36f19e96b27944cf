from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import (
    HTTP_201_CREATED,
    HTTP_404_NOT_FOUND,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_422_UNPROCESSABLE_ENTITY,
)
from sqlalchemy.ext.asyncio import AsyncSession

from kith.auth.principal import Principal
from kith.conversations import service
from kith.conversations.listings import CONVERSATIONS, MESSAGES, TIMELINE
from kith.conversations.schemas import (
    MAX_MESSAGE_REQUEST_BYTES,
    ConversationCreate,
    ConversationPage,
    ConversationSummary,
    Message,
    MessageCreate,
    MessagePage,
)
from kith.db.reads import Reader
from kith.idempotency import Idempotency
from kith.links import created
from kith.openapi import CREATED_HEADERS, resource_responses
from kith.pagination.cache import PageCaching
from kith.pagination.http import listing_route, respond
from kith.pagination.listing import ListingRequest
from kith.pagination.page import page_response
from kith.pagination.params import ResourceId, time_parameter

Before = Annotated[str | None, time_parameter("Open at the newest messages older than this time.")]
After = Annotated[str | None, time_parameter("Open at the oldest messages newer than this time (still newest first).")]

# Messages are read from their table (no read model): kept until a write to the tenant's rows.
MESSAGE_PAGES = PageCaching.of(MESSAGES)


class ConversationController(Controller):
    path = "/conversations"
    tags = ["conversations"]

    @get(
        "/",
        summary="Conversations, most recent activity first (cursor-paginated)",
        **listing_route(CONVERSATIONS, page_cache=PageCaching.of(CONVERSATIONS)),
    )
    async def list_conversations(
        self, request: Request, listing: NamedDependency[ListingRequest]
    ) -> Response[ConversationPage]:
        return await respond(request, CONVERSATIONS, listing)

    @get(
        "/{conversation_id:int}",
        name="conversation",
        summary="One conversation's summary",
        **resource_responses(HTTP_404_NOT_FOUND),
    )
    async def get_conversation(
        self,
        db_reader: NamedDependency[Reader],
        principal: NamedDependency[Principal],
        conversation_id: ResourceId,
    ) -> ConversationSummary:
        return await service.get_conversation(db_reader, principal.tenant_id, conversation_id)

    @get(
        "/{conversation_id:int}/messages",
        summary="A conversation's messages, newest first (cursor-paginated)",
        **listing_route(MESSAGES, HTTP_404_NOT_FOUND, page_cache=MESSAGE_PAGES),
    )
    async def list_messages(
        self,
        request: Request,
        db_reader: NamedDependency[Reader],
        conversation_id: ResourceId,
        before: Before = None,
        after: After = None,
        *,
        listing: NamedDependency[ListingRequest],
    ) -> Response[MessagePage]:
        scoped = replace(listing, scope={"conversation_id": conversation_id})
        return page_response(request, await service.list_messages(db_reader, MESSAGES, scoped, before, after))

    @post(
        "/",
        summary="Start a conversation with a contact",
        **resource_responses(
            HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            HTTP_422_UNPROCESSABLE_ENTITY,
            headers=CREATED_HEADERS,
            body=ConversationCreate,
        ),
    )
    async def create_conversation(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        data: JSONBody[ConversationCreate],
    ) -> Response[ConversationSummary]:
        return await idempotency.respond(
            lambda: created(
                request, service.create_conversation(db_session, principal, data), "conversation", conversation_id="id"
            ),
            HTTP_201_CREATED,
        )

    @post(
        "/{conversation_id:int}/messages",
        summary="Send a message (outgoing, now)",
        request_max_body_size=MAX_MESSAGE_REQUEST_BYTES,
        **resource_responses(
            HTTP_404_NOT_FOUND,
            HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            HTTP_422_UNPROCESSABLE_ENTITY,
            headers=CREATED_HEADERS,
            body=MessageCreate,
        ),
    )
    async def send_message(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        conversation_id: ResourceId,
        data: JSONBody[MessageCreate],
    ) -> Response[Message]:
        return await idempotency.respond(
            lambda: created(
                request,
                service.send_message(db_session, principal, conversation_id, data),
                "message",
                conversation_id="conversation_id",
                message_id="id",
            ),
            HTTP_201_CREATED,
        )

    @get(
        "/{conversation_id:int}/messages/{message_id:int}",
        name="message",
        summary="One message of a conversation",
        **resource_responses(HTTP_404_NOT_FOUND),
    )
    async def get_message(
        self,
        db_reader: NamedDependency[Reader],
        principal: NamedDependency[Principal],
        conversation_id: ResourceId,
        message_id: ResourceId,
    ) -> Message:
        return await service.get_message(db_reader, principal.tenant_id, conversation_id, message_id)


class TimelineController(Controller):
    path = "/contacts/{contact_id:int}/timeline"
    tags = ["contacts"]

    @get(
        "/",
        summary="A contact's messages across conversations, newest first (cursor-paginated)",
        **listing_route(TIMELINE, HTTP_404_NOT_FOUND, page_cache=MESSAGE_PAGES),
    )
    async def list_timeline(
        self,
        request: Request,
        db_reader: NamedDependency[Reader],
        contact_id: ResourceId,
        before: Before = None,
        after: After = None,
        *,
        listing: NamedDependency[ListingRequest],
    ) -> Response[MessagePage]:
        scoped = replace(listing, scope={"contact_id": contact_id})
        return page_response(request, await service.list_messages(db_reader, TIMELINE, scoped, before, after))
