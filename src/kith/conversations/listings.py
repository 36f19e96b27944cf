"""The conversation listings, declared.

Conversations read the conversation_summaries read model and, live, the conversations an API write
changed since its refresh, seeking on their sort key (kith.readmodels.models, db/views).
Messages are read from the base table (fresh after a send), on
ix_messages_tenant_conversation_sent; a timeline from the plain view contact_messages over it, on
ix_messages_tenant_contact_sent_id and message_participants' primary key, merged; each with
the parent's existence checked by the guard in the same statement.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from litestar.params import Parameter

from kith.conversations.schemas import ConversationSummary, Message
from kith.pagination.listing import Filter, Listing, Sort
from kith.readmodels.models import CONVERSATION_SUMMARIES

# Most recent activity first; `last_activity_at` is never NULL (see db/views/conversation_summaries.sql).
RECENT = {"recent": Sort(("last_activity_at", "id"), (dt.datetime, int), descending=True)}
# Newest first, ties broken by id: the order a thread is shown in.
NEWEST = {"newest": Sort(("sent_at", "id"), (dt.datetime, int), descending=True)}

CONVERSATIONS = Listing(
    name="conversations",
    item=ConversationSummary,
    read_model=CONVERSATION_SUMMARIES,
    sorts=RECENT,
    filters={
        "contact_id": Filter("r.contact_id = :contact_id", Annotated[int | None, Parameter(ge=1, le=2**63 - 1)]),
        "channel": Filter("r.channel = :channel", Annotated[str | None, Parameter(min_length=1, max_length=50)]),
        "awaiting_reply": Filter(
            "r.awaiting_reply = :awaiting_reply",
            Annotated[bool | None, Parameter(description="true: the replies you owe")],
        ),
    },
    # A deleted contact's conversations leave the listing at once (a primary-key probe per row read; the
    # conversation itself is kept, and still answers by its id).
    scope="NOT EXISTS (SELECT 1 FROM contacts d WHERE d.id = r.contact_id AND d.deleted_at IS NOT NULL)",
)

# One conversation: the same read (view, or live once changed), scoped to its id.
CONVERSATION = Listing(
    name="conversation",
    item=ConversationSummary,
    read_model=CONVERSATION_SUMMARIES,
    sorts=RECENT,
    scope="r.id = :conversation_id",
)

MESSAGES = Listing(
    name="conversation.messages",
    item=Message,
    source="messages",
    sorts=NEWEST,
    scope="r.conversation_id = :conversation_id",
    guard="EXISTS (SELECT 1 FROM conversations WHERE tenant_id = :tenant_id AND id = :conversation_id)",
    missing="No such conversation",
)

# Every message the contact is with: its own and those it is one more participant of (db/views/contact_messages.sql).
TIMELINE = Listing(
    name="contact.timeline",
    item=Message,
    source="contact_messages",
    sorts=NEWEST,
    scope="r.with_contact_id = :contact_id",
    # A participant's row has the message's key, time and direction: the rest by id (none for the others).
    lookup=(
        "SELECT m.conversation_id, m.contact_id, m.channel, m.subject, m.body FROM messages m"
        " WHERE r.participant AND m.tenant_id = r.tenant_id AND m.id = r.id OFFSET 0"
    ),
    columns={
        name: f"CASE WHEN r.participant THEN l.{name} ELSE r.{name} END"
        for name in ("conversation_id", "contact_id", "channel", "subject", "body")
    },
    guard=("EXISTS (SELECT 1 FROM contacts WHERE tenant_id = :tenant_id AND id = :contact_id AND deleted_at IS NULL)"),
    missing="No such contact",
)
