from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from kith.models.base import Base, Timestamps


class Contact(Timestamps, Base):
    __tablename__ = "contacts"
    __table_args__ = (
        CheckConstraint("birthday_month BETWEEN 1 AND 12", name="birthday_month_range"),
        CheckConstraint("birthday_day BETWEEN 1 AND 31", name="birthday_day_range"),
        CheckConstraint("(birthday_month IS NULL) = (birthday_day IS NULL)", name="birthday_complete"),
        CheckConstraint("cadence_days > 0", name="cadence_positive"),
        # Rows an API write touched since the last view refresh are read live (DESIGN: fresh reads).
        Index("ix_contacts_tenant_changed", "tenant_id", "changed_at"),
        Index("ix_contacts_tenant_company", "tenant_id", "company"),
    )

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id", ondelete="CASCADE"))
    full_name: Mapped[str] = mapped_column(Text)
    emails: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}", default=list)
    phones: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}", default=list)
    company: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}", default=list)
    birthday_month: Mapped[int | None] = mapped_column(SmallInteger)
    birthday_day: Mapped[int | None] = mapped_column(SmallInteger)
    birthday_year: Mapped[int | None] = mapped_column(SmallInteger)
    cadence_days: Mapped[int | None] = mapped_column(Integer)
    links: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}", default=list)
    notes: Mapped[str | None] = mapped_column(Text)
    nickname: Mapped[str | None] = mapped_column(Text)
    # The units of the organization (vCard ORG after the company, a CSV's Department), " / " between them.
    department: Mapped[str | None] = mapped_column(Text)
    # Postal addresses: [{"label", "street", "locality", "region", "postal_code", "country", "po_box", "extended"}].
    addresses: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"), default=list)
    # Related people: [{"name", "relation"}] (spouse, child, assistant ... as the source labels them).
    related: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"), default=list)
    external_ids: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"), default=dict)
    custom: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"), default=dict)
    # `email:…`, `phone:+E164`, `url:…` (kith.identities): what duplicate candidates are found on.
    identities: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}", default=list)
    # Where each field's value came from (kith.identities): what imports may replace and what they may not.
    provenance: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"), default=dict)
    score: Mapped[float] = mapped_column(Float, server_default="0", default=0.0)
    last_interaction_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ContactKey(Base):
    """A normalized identity of a contact (email, profile URL, source UID).

    Imports match records to contacts by looking up just their keys here, on
    the unique index, instead of loading a tenant's contacts.
    """

    __tablename__ = "contact_keys"
    __table_args__ = (
        Index("uq_contact_keys_tenant_kind_value", "tenant_id", "kind", "value", unique=True),
        Index("ix_contact_keys_tenant_contact", "tenant_id", "contact_id"),
    )

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("contacts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(Text)
    # C collation: prefix searches (`LIKE 'abc%'`) can use the unique index.
    value: Mapped[str] = mapped_column(Text(collation="C"))
