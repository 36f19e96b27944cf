from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from kith.pagination.page import Page

# A message body is at most this many characters (a longer one is a 422 problem); the request as a
# whole at most MAX_MESSAGE_REQUEST_BYTES (a 413 problem before it is even parsed).
MAX_MESSAGE_CHARS = 20_000
MAX_MESSAGE_REQUEST_BYTES = 256 * 1024
PREVIEW_CHARS = 100

Channel = Literal["email", "sms", "chat", "linkedin"]
Subject = Annotated[str, msgspec.Meta(max_length=500)]


class ConversationSummary(msgspec.Struct):
    id: int
    contact_id: int | None
    channel: str
    subject: str | None
    message_count: int
    last_message_at: dt.datetime | None
    # The last message's direction ("in" or "out"); null with no message.
    last_direction: str | None
    # The first 100 characters of the last message's body.
    preview: str | None
    # The last message came in and no reply went out after it.
    awaiting_reply: bool
    # The last message's time, else when the conversation was started.
    last_activity_at: dt.datetime
    created_at: dt.datetime


class Message(msgspec.Struct):
    id: int
    conversation_id: int
    contact_id: int | None
    channel: str
    direction: str
    sent_at: dt.datetime
    subject: str | None
    body: str | None


ConversationPage = Page[ConversationSummary]
MessagePage = Page[Message]


class ConversationCreate(msgspec.Struct, forbid_unknown_fields=True):
    contact_id: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
    channel: Channel = "email"
    subject: Subject | None = None


class MessageCreate(msgspec.Struct, forbid_unknown_fields=True):
    """An outgoing message, sent now, to the conversation's contact."""

    body: Annotated[str, msgspec.Meta(min_length=1, description=f"At most {MAX_MESSAGE_CHARS:,} characters (422).")]
    subject: Subject | None = None
