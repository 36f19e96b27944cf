"""Every person a message is with: message_participants, and what reads it.

An imported mail is with more than one person: a message the user sent To and Cc two people, one received
from X with Y in Cc. `messages.contact_id` stays the one contact a message is with (the first recipient of
a message sent, the sender of one received: the conversation's contact); `message_participants` holds each
of the others once (never the message's own contact), with the message's time and direction, so
a contact's interactions are read from an index on its own rows (the primary key, tenant_id first).

- contact_card_rows counts both for a contact's last interaction and its 30/90-day counts (its columns are
  unchanged, so the slices keep their contents until their next refresh);
- contact_messages, a plain view, is each message once for every contact it is with: the timeline's rows.

No foreign key to messages or contacts: a cascade would look rows up by message_id or contact_id alone
(no index leads with them but tenant_id's), as migration 0003 says of sync_run_contacts. The writers that
delete messages delete their participants in the same statement (kith.connectors.queries), on
(tenant_id, message_id); readers join messages and contacts.

Frozen copies of db/views/contact_cards.sql's rows definition and of db/views/contact_messages.sql
(tests/test_migrations.py proves they agree with the files).

Revision ID: 0026
Revises: 0025
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import op

from kith.db.scripts import run_sql_script

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

CONTACT_CARD_ROWS_SQL = r"""-- contact_cards: one row per live contact, with what the contact listings sort and filter on.
--
-- `contact_card_rows` is the plain (always current) definition; the slices (materialized
-- views) store it. Listings read the tenant's slice for rows unchanged since
-- its refresh and `contact_card_rows` for the few rows an API write changed since
-- (DESIGN: fresh reads over views), so both must have the same columns. The
-- per-contact LATERAL makes the live read an index look-up per changed contact.
--
-- Sort keys are never NULL, so keyset predicates stay plain row comparisons on
-- an index: never-contacted sorts as '-infinity' (last in "recent first").
-- A follow-up is due a cadence after the last interaction (or the creation). A contact's interactions
-- are the messages it is the contact of and those it is one more participant of (message_participants,
-- migration 0026: the others in To/Cc of an imported mail).
--
-- `search_key` is what `q` matches a substring of: the name, the nickname, the
-- company, the emails and each phone's digits, one per line (so no match spans two of them),
-- unaccented and lower-cased by kith_search_text (migration 0024: unaccent is
-- only STABLE, and an index needs an IMMUTABLE expression). A trigram index on
-- it answers `LIKE '%…%'` for any part of it.

CREATE OR REPLACE VIEW contact_card_rows AS
SELECT
    c.tenant_id,
    c.id,
    c.full_name,
    lower(c.full_name) COLLATE "C" AS name_key,
    c.emails,
    c.phones,
    c.company,
    c.title,
    c.tags,
    c.birthday_month,
    c.birthday_day,
    c.birthday_year,
    (c.birthday_month * 100 + c.birthday_day)::smallint AS birthday_mmdd,
    -- As the API writes it: YYYY-MM-DD, or --MM-DD when the year is unknown.
    CASE WHEN c.birthday_month IS NOT NULL THEN
        coalesce(lpad(c.birthday_year::text, 4, '0'), '-') || '-' || lpad(c.birthday_month::text, 2, '0')
        || '-' || lpad(c.birthday_day::text, 2, '0')
    END AS birthday,
    c.cadence_days,
    c.links,
    c.notes,
    -- What address books keep beside (imports: vCard NICKNAME, ORG units, ADR, related names).
    c.nickname,
    c.department,
    c.addresses,
    c.related,
    c.score,
    m.last_interaction_at,
    coalesce(m.last_interaction_at, '-infinity'::timestamptz) AS last_interaction_key,
    coalesce(m.messages_30d, 0)::integer AS messages_30d,
    coalesce(m.messages_90d, 0)::integer AS messages_90d,
    -- A cadence counts from the last interaction, or from the contact's creation when there is none
    -- yet: a new contact is not overdue before its first cadence has passed.
    coalesce(m.last_interaction_at, c.created_at) + make_interval(days => c.cadence_days) AS follow_up_due_at,
    coalesce(m.last_interaction_at, c.created_at) + make_interval(days => c.cadence_days) AS follow_up_due_key,
    c.created_at,
    c.updated_at,
    -- The company and tag filters match case-insensitively, on these.
    lower(c.company) COLLATE "C" AS company_key,
    ARRAY(SELECT lower(t) FROM unnest(c.tags) t) AS tag_keys,
    kith_search_text(concat_ws(E'\n',
        c.full_name, c.nickname, c.company, array_to_string(c.emails, E'\n'),
        regexp_replace(array_to_string(c.phones, E'\n'), '[^0-9\n]', '', 'g')
    )) AS search_key
FROM contacts c
LEFT JOIN LATERAL (
    SELECT
        max(msg.sent_at) AS last_interaction_at,
        count(*) FILTER (WHERE msg.sent_at >= now() - interval '30 days') AS messages_30d,
        count(*) FILTER (WHERE msg.sent_at >= now() - interval '90 days') AS messages_90d
    FROM (
        SELECT msg.sent_at FROM messages msg WHERE msg.tenant_id = c.tenant_id AND msg.contact_id = c.id
        UNION ALL
        SELECT p.sent_at FROM message_participants p WHERE p.tenant_id = c.tenant_id AND p.contact_id = c.id
    ) msg
) m ON true
WHERE c.deleted_at IS NULL;
"""

CONTACT_MESSAGES_SQL = r"""-- contact_messages: each message once for every contact it is with, the rows a contact's timeline
-- (GET /contacts/{id}/timeline) reads: its contact (messages.contact_id) and each of its other
-- participants (message_participants: the others in To/Cc of an imported mail). `with_contact_id` is
-- the contact whose timeline the row is on; `contact_id` stays the message's own.
--
-- Both branches read one table, so a timeline filtered on with_contact_id reads each in (sent_at, id)
-- order from its index (ix_messages_tenant_contact_sent_id, message_participants' primary key) and
-- merges the two. A participant's row (`participant`) holds the message's key, time and direction
-- only: the listing reads the rest of its page's such rows by id (kith.conversations.listings).

CREATE VIEW contact_messages AS
SELECT m.tenant_id, m.contact_id AS with_contact_id, m.id, m.conversation_id, m.contact_id, m.channel,
       m.direction, m.sent_at, m.subject, m.body, false AS participant
FROM messages m
UNION ALL
SELECT p.tenant_id, p.contact_id AS with_contact_id, p.message_id AS id, NULL::bigint AS conversation_id,
       NULL::bigint AS contact_id, NULL::text AS channel, p.direction, p.sent_at, NULL::text AS subject,
       NULL::text AS body, true AS participant
FROM message_participants p;
"""


def upgrade() -> None:
    op.create_table(
        "message_participants",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("contact_id", sa.BigInteger(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("direction", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_message_participants_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.CheckConstraint("direction IN ('in', 'out')", name=op.f("ck_message_participants_direction_in_out")),
        # A contact's timeline and interactions, keyset on (sent_at, message_id).
        sa.PrimaryKeyConstraint(
            "tenant_id", "contact_id", "sent_at", "message_id", name=op.f("pk_message_participants")
        ),
    )
    # A message's participants: what a writer deleting messages deletes with them.
    op.create_index("ix_message_participants_tenant_message", "message_participants", ["tenant_id", "message_id"])
    run_sql_script(CONTACT_CARD_ROWS_SQL)
    run_sql_script(CONTACT_MESSAGES_SQL)


def _frozen(revision_file: str) -> Any:
    path = Path(__file__).with_name(revision_file)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def downgrade() -> None:
    op.execute("DROP VIEW contact_messages")
    # 0024's contact_card_rows (same columns).
    cards = _frozen("0024_contact_search.py").CONTACT_CARDS_SQL
    rows = cards[: cards.index("-- The read model's slices")]
    run_sql_script(rows.replace("CREATE VIEW contact_card_rows AS", "CREATE OR REPLACE VIEW contact_card_rows AS"))
    op.drop_table("message_participants")
