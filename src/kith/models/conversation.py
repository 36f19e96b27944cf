from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from kith.models.base import Base, Timestamps


class Conversation(Timestamps, Base):
    """A thread (email thread, DM, chat) owned by a user."""

    __tablename__ = "conversations"
    __table_args__ = (
        Index("uq_conversations_tenant_source_external", "tenant_id", "source", "external_id", unique=True),
        Index("ix_conversations_tenant_user", "tenant_id", "user_id", "id"),
        # Conversations an API write touched since the last view refresh are read live (DESIGN: fresh reads).
        Index("ix_conversations_tenant_changed", "tenant_id", "changed_at"),
        # The changed conversations in the listing's order (db/views/conversation_summary_live.sql).
        Index(
            "ix_conversations_live_recent",
            "tenant_id",
            text("coalesce(last_message_at, created_at) DESC"),
            text("id DESC"),
            postgresql_where=text("changed_at IS NOT NULL"),
        ),
    )

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    # The contact it was started with (the API sets it; imported threads leave it NULL).
    contact_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("contacts.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(Text, server_default="api", default="api")
    external_id: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(Text, server_default="email", default="email")
    subject: Mapped[str | None] = mapped_column(Text)
    changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # The last message sent through the API (imports leave it alone): the live listing's sort key.
    last_message_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint("direction IN ('in', 'out')", name="direction_in_out"),
        # A re-import never duplicates.
        Index("uq_messages_tenant_source_external", "tenant_id", "source", "external_id", unique=True),
        # Messages of one conversation, keyset on (sent_at, id).
        Index("ix_messages_tenant_conversation_sent", "tenant_id", "conversation_id", "sent_at", "id"),
        # A contact's timeline, keyset on (sent_at, id); recency / frequency per contact (scoring).
        Index("ix_messages_tenant_contact_sent_id", "tenant_id", "contact_id", "sent_at", "id"),
    )

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("conversations.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("contacts.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(Text, server_default="email", default="email")
    direction: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text, server_default="api", default="api")
    external_id: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class MessageParticipant(Base):
    """One more contact a message is with, beside its own (messages.contact_id): the others in To/Cc of an
    imported mail. Its timeline and interactions count the message (migration 0026)."""

    __tablename__ = "message_participants"
    __table_args__ = (
        CheckConstraint("direction IN ('in', 'out')", name="direction_in_out"),
        # A message's participants: what a writer deleting messages deletes with them.
        Index("ix_message_participants_tenant_message", "tenant_id", "message_id"),
    )

    id = None  # type: ignore[assignment]
    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    # No foreign keys to contacts or messages: see migration 0026.
    contact_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    sent_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), primary_key=True)  # the message's
    message_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    direction: Mapped[str] = mapped_column(Text)  # the message's
