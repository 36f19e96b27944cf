"""The SQL of sync: runs, uploaded chunks, and the statements that land a batch of each kind of record.

A batch lands in one transaction: contacts and mentions in one statement (on
an autocommit connection), messages in three (see RESOLVE_MESSAGES), the last
a COPY. The statements look up just the batch's natural keys on their unique
indexes (a LATERAL … LIMIT 1 per key, so the plan is an index probe per batch
row whatever the statistics say about a fresh tenant), insert what is new,
update what changed, record the contacts the batch touched
(`sync_run_contacts`, which scoring reads) and add the batch's counts and
record errors to its `sync_runs` row, all together or not at all. Ids of new
rows are drawn with `nextval` before the insert, so the rows that reference
them (keys, messages) need no RETURNING round trip. Batch writes never set
`changed_at`: that marks API writes (see DESIGN, fresh reads).

Parameters are positional (`$n`): batch statements run on the asyncpg
connection itself, so the arrays go to asyncpg untouched.
"""

from __future__ import annotations

from sqlalchemy import text

from kith.db.locks import lock_id
from kith.identities import SCALAR_FIELDS, SET_FIELDS, UNRANKED, USER
from kith.plans.queries import contacts_up_to_sql, lock_tenant_contacts_sql

# ---------------------------------------------------------------- runs

CREATE_RUN = text(
    """
    INSERT INTO sync_runs (tenant_id, user_id, source, since, options)
    VALUES (:tenant_id, :user_id, :source, :since, CAST(:options AS jsonb))
    RETURNING *
    """
)

RUN_COLUMNS = """
    id, source, status, since, until, rows_seen, rows_inserted, rows_updated, rows_skipped, rows_failed,
    error, stages, started_at, finished_at, duration_ms, created_at
"""

GET_RUN = text(f"SELECT {RUN_COLUMNS}, errors FROM sync_runs WHERE tenant_id = :tenant_id AND id = :id")

# With the max_contacts of the tenant's plan (or of the default plan) and the tenant's settings as the run starts.
RUN_FOR_WORK = """
    SELECT r.id, r.tenant_id, r.source, r.status, r.since, r.options, u.email AS user_email, p.max_contacts,
           t.skip_bulk_mail
    FROM sync_runs r
    LEFT JOIN users u ON u.id = r.user_id
    JOIN tenants t ON t.id = r.tenant_id
    JOIN plans p ON p.id = t.plan_id OR (t.plan_id IS NULL AND p.is_default)
    WHERE r.id = $1
"""

# The run's own connection, for the length of the run ($1: kith.db.locks.tenant_sync_key):
# - a session advisory lock: imports of one tenant run one after the other, so two runs never
#   both create the contact for a new address, or the same conversation, or copy the same message;
# - synchronous_commit off: a batch commits without waiting for its WAL flush. A crash can lose
#   the last batches, but with their counts and checkpoint (same transaction), and the run, still
#   'running', resumes after the batches that did land.
START_RUN_SESSION = f"""
    SELECT pg_advisory_lock({lock_id("$1")}), set_config('synchronous_commit', 'off', false)
"""

# A run left 'running' by a worker that died is claimed again. With a checkpoint (batches landed, see
# kith.sync.batch_writer.Checkpoint) it resumes after them and keeps their counts, errors and start;
# without one it starts over (nothing of it landed). Returns what the run's totals resume from.
CLAIM_RUN = """
    UPDATE sync_runs
    SET status = 'running', started_at = CASE WHEN checkpoint IS NULL THEN clock_timestamp() ELSE started_at END,
        finished_at = NULL, duration_ms = NULL, error = NULL,
        rows_seen = CASE WHEN checkpoint IS NULL THEN 0 ELSE rows_seen END,
        rows_inserted = CASE WHEN checkpoint IS NULL THEN 0 ELSE rows_inserted END,
        rows_updated = CASE WHEN checkpoint IS NULL THEN 0 ELSE rows_updated END,
        rows_skipped = CASE WHEN checkpoint IS NULL THEN 0 ELSE rows_skipped END,
        rows_failed = CASE WHEN checkpoint IS NULL THEN 0 ELSE rows_failed END,
        errors = CASE WHEN checkpoint IS NULL THEN '[]' ELSE errors END,
        stages = (stages - 'score' - 'refresh') || jsonb_build_object('sync', jsonb_build_object(
            'status', 'running',
            'started_at', CASE WHEN checkpoint IS NULL THEN clock_timestamp() ELSE started_at END)),
        updated_at = clock_timestamp()
    WHERE id = $1 AND status IN ('queued', 'running')
    RETURNING started_at, checkpoint, rows_seen, rows_inserted, rows_updated, rows_failed,
              jsonb_array_length(errors) AS errors_kept
"""

# Ends the sync stage and drops the uploaded file, in one statement. $6 `until`: when the newest
# record the run saw happened (NULL for a source without dates).
FINISH_RUN = """
    WITH dropped AS (DELETE FROM sync_uploads WHERE tenant_id = $2 AND sync_run_id = $1)
    UPDATE sync_runs
    SET status = $3::text, error = $4::text, until = $6::timestamptz, finished_at = clock_timestamp(),
        duration_ms = (extract(epoch FROM clock_timestamp() - started_at) * 1000)::int,
        stages = stages || jsonb_build_object('sync', (stages -> 'sync') || jsonb_build_object(
            'status', $3::text, 'finished_at', clock_timestamp(),
            'duration_ms', (extract(epoch FROM clock_timestamp() - started_at) * 1000)::int) || $5::text::jsonb),
        updated_at = clock_timestamp()
    WHERE id = $1
    RETURNING rows_seen, rows_inserted, rows_updated, rows_skipped, rows_failed, duration_ms
"""

# ---------------------------------------------------------------- uploads

INSERT_CHUNK = text(
    "INSERT INTO sync_uploads (tenant_id, sync_run_id, seq, data) VALUES (:tenant_id, :sync_run_id, :seq, :data)"
)

READ_CHUNK = "SELECT data FROM sync_uploads WHERE tenant_id = $1 AND sync_run_id = $2 AND seq = $3"

# The upload's size (a zip archive is read from its end); octet_length reads a stored value's header only.
UPLOAD_SIZE = (
    "SELECT coalesce(sum(octet_length(data)), 0)::bigint FROM sync_uploads WHERE tenant_id = $1 AND sync_run_id = $2"
)

# ---------------------------------------------------------------- batches
#
# Common parameters: $1 tenant_id, $2 sync_run_id, $3 input items the batch
# accounts for, $4 of which failed validation, $5 their errors (a JSON array,
# already capped); the record kind's own start at $6, and its last is the run's checkpoint after the batch
# (kith.sync.batch_writer.Checkpoint), written with the batch's rows and counts. Every other item was
# inserted, updated or skipped (outside the window, a duplicate, unchanged,
# or matching a contact the user deleted).
#
# Batch statements are prepared afresh for every batch (kith.sync.batch_writer),
# so each is planned for its own arrays and the tables' current sizes.


def _progress(
    inserted: str,
    updated: str,
    checkpoint: str,
    failed: str = "0",
    errors: str = "'[]'::jsonb",
    created: str = "0",
    counterparts: str = "0",
) -> str:
    """The CTE adding a batch's counts and errors to its run; `inserted`/`updated` count its rows, `failed`
    and `errors` the record errors the statement itself finds, beside those in $4 and $5 (SQL).
    `checkpoint` is the parameter holding the run's checkpoint after this batch as the writer knows it;
    the contacts the statement created (`created`) and the message counterparts it could not make
    contacts (`counterparts`) are added to it here, so a resumed run has them too."""
    return f"""
    progress AS (
        UPDATE sync_runs
        SET rows_seen = rows_seen + $3::int,
            rows_failed = rows_failed + $4::int + {failed},
            rows_inserted = rows_inserted + {inserted},
            rows_updated = rows_updated + {updated},
            rows_skipped = rows_skipped + $3::int - $4::int - {failed} - {inserted} - {updated},
            errors = errors || $5::text::jsonb || {errors},
            checkpoint = {checkpoint}::text::jsonb || jsonb_build_object(
                'contacts_created', coalesce((checkpoint ->> 'contacts_created')::bigint, 0) + {created},
                'counterparts_over_limit', coalesce((checkpoint ->> 'counterparts_over_limit')::bigint, 0)
                                           + {counterparts}),
            updated_at = clock_timestamp()
        WHERE tenant_id = $1 AND id = $2
    )
"""


# A batch with no record to write (all skipped, failed or stored already) still adds its counts and errors.
# $6 the checkpoint.
COUNT_ONLY_BATCH = f"""
WITH {_progress("0", "0", "$6")}
SELECT 0
"""

# Messages (mbox, synthetic) land in three statements, in one transaction, under
# the tenant's import lock (pipeline.run_session), so nothing else writes the
# tenant's imported messages in between:
#   1. STORED_MESSAGES: which of the batch's messages are stored already;
#   2. RESOLVE_MESSAGES: the contacts and conversations of the others, found or
#      created, and the batch's counts;
#   3. COPY of the new messages, with those ids, into `messages`.
# A re-import writes nothing at all: no contact, conversation or message.

# $1 tenant_id, $2 the batch's external ids, $3 source → the 1-based positions of those stored already.
STORED_MESSAGES = """
SELECT array_agg(b.ord) FROM unnest($2::text[]) WITH ORDINALITY AS b(external_id, ord)
CROSS JOIN LATERAL (SELECT FROM messages m
                    WHERE m.tenant_id = $1 AND m.source = $3 AND m.external_id = b.external_id LIMIT 1) stored
"""

# The plan's contact limit, in the transaction of a batch that may create contacts ($1 tenant_id, $2 the
# plan's max_contacts): the tenant's contact creations wait for each other (the lock POST /contacts takes),
# then the room left, counting live contacts no further than the limit.
LOCK_TENANT_CONTACTS = lock_tenant_contacts_sql("$1")
CONTACT_ROOM = f"SELECT $2::int - ({contacts_up_to_sql('$1', '$2')})"

# The new messages' distinct counterpart addresses ($7, with a display name each in $8) and
# threads ($9, with the subject and channel of their earliest message in $10, $11), each
# found on its unique index or created; $6 source, $12 how many new messages the COPY lands; $13 how many
# contacts may still be created (the plan's room, NULL: no limit): an address beyond it gets no contact, and
# its messages none; $14 the run's checkpoint. Returns the contact id (or NULL) of each address and the
# conversation id of each thread, in order. $15: each address's contact_keys kind; only an 'email' is made a
# contact when missing (a connector's account, 'github' or 'x', was landed as a contact record by its source first).
# The messages' other participants (MessageRecord.participants), one element of $16..$20 each: the message's
# 1-based position among the new ones, the participant's and the counterpart's (or NULL) 1-based position
# in $7, and the message's time and direction. When there are any, the new messages' ids are drawn here
# (`message_ids`, in order: the COPY writes them) and each participant whose contact is not the message's
# own lands in message_participants, once.
RESOLVE_MESSAGES = f"""
WITH found AS MATERIALIZED (
    SELECT a.ord, a.address, a.display_name, a.kind, k.contact_id
    FROM unnest($7::text[], $8::text[], $15::text[]) WITH ORDINALITY AS a(address, display_name, kind, ord)
    LEFT JOIN LATERAL (SELECT contact_id FROM contact_keys
                       WHERE tenant_id = $1 AND kind = a.kind AND value = a.address LIMIT 1) k ON true
),
contact_ids AS MATERIALIZED (
    SELECT ord, address, display_name, is_new,
           CASE WHEN contact_id IS NOT NULL THEN contact_id
                WHEN is_new AND ($13::int IS NULL OR nth_new <= $13::int)
                THEN nextval(pg_get_serial_sequence('contacts', 'id'))
           END AS contact_id
    FROM (SELECT f.*, f.contact_id IS NULL AND f.kind = 'email' AS is_new,
                 row_number() OVER (PARTITION BY f.contact_id IS NULL AND f.kind = 'email' ORDER BY f.ord) AS nth_new
          FROM found f) n
),
inserted_contacts AS (
    INSERT INTO contacts (id, tenant_id, full_name, emails, identities, provenance)
    SELECT contact_id, $1, coalesce(display_name, address), ARRAY[address], ARRAY['email:' || address],
           jsonb_build_object('full_name', credit, 'emails', jsonb_build_object(address, credit))
    FROM contact_ids
    CROSS JOIN LATERAL (SELECT jsonb_build_object('source', $6::text, 'record', address, 'at', now()) AS credit) c
    WHERE is_new AND contact_id IS NOT NULL
),
inserted_keys AS (
    INSERT INTO contact_keys (tenant_id, contact_id, kind, value)
    SELECT $1, contact_id, 'email', address FROM contact_ids WHERE is_new AND contact_id IS NOT NULL
    ON CONFLICT DO NOTHING
),
conversation_ids AS MATERIALIZED (
    SELECT t.ord, t.thread_key, t.subject, t.channel, c.id IS NULL AS is_new,
           coalesce(c.id, nextval(pg_get_serial_sequence('conversations', 'id'))) AS id
    FROM unnest($9::text[], $10::text[], $11::text[]) WITH ORDINALITY AS t(thread_key, subject, channel, ord)
    LEFT JOIN LATERAL (SELECT id FROM conversations
                       WHERE tenant_id = $1 AND source = $6 AND external_id = t.thread_key LIMIT 1) c ON true
),
inserted_conversations AS (
    INSERT INTO conversations (id, tenant_id, user_id, source, external_id, channel, subject)
    SELECT id, $1, (SELECT user_id FROM sync_runs WHERE id = $2), $6, thread_key, channel, subject
    FROM conversation_ids WHERE is_new
),
touched AS (
    INSERT INTO sync_run_contacts (tenant_id, sync_run_id, contact_id)
    SELECT $1::bigint, $2::bigint, contact_id FROM contact_ids WHERE contact_id IS NOT NULL
    ON CONFLICT DO NOTHING
),
message_ids AS MATERIALIZED (
    SELECT n AS ord, nextval(pg_get_serial_sequence('messages', 'id')) AS id
    FROM generate_series(1, CASE WHEN cardinality($16::int[]) > 0 THEN $12::int ELSE 0 END) AS n
),
inserted_participants AS (
    INSERT INTO message_participants (tenant_id, contact_id, sent_at, message_id, direction)
    SELECT DISTINCT $1::bigint, a.contact_id, p.sent_at, i.id, p.direction
    FROM unnest($16::int[], $17::int[], $18::int[], $19::timestamptz[], $20::text[])
         AS p(message_ord, address_ord, counterpart_ord, sent_at, direction)
    JOIN message_ids i ON i.ord = p.message_ord
    JOIN contact_ids a ON a.ord = p.address_ord
    LEFT JOIN contact_ids o ON o.ord = p.counterpart_ord
    WHERE a.contact_id IS NOT NULL AND a.contact_id IS DISTINCT FROM o.contact_id
    ON CONFLICT DO NOTHING
),
{
    _progress(
        "$12::int",
        "0",
        "$14",
        created="(SELECT count(*) FROM contact_ids WHERE is_new AND contact_id IS NOT NULL)",
        counterparts="(SELECT count(*) FROM contact_ids WHERE contact_id IS NULL)",
    )
}
SELECT ARRAY(SELECT contact_id FROM contact_ids ORDER BY ord) AS contact_ids,
       ARRAY(SELECT id FROM conversation_ids ORDER BY ord) AS conversation_ids,
       ARRAY(SELECT id FROM message_ids ORDER BY ord) AS message_ids,
       (SELECT count(*) FROM contact_ids WHERE is_new AND contact_id IS NOT NULL) AS contacts_created,
       (SELECT count(*) FROM contact_ids WHERE is_new AND contact_id IS NULL) AS contacts_over_limit
"""

# The columns the COPY of new messages fills.
MESSAGE_COLUMNS = (
    "tenant_id",
    "conversation_id",
    "contact_id",
    "channel",
    "direction",
    "sent_at",
    "subject",
    "body",
    "source",
    "external_id",
)

# Contacts (vCard, LinkedIn). $6 the records (a JSON array; `ord` numbers them
# within the batch), each with its keys (key_kinds, key_values) and `record`, its
# identity within the source. A record matches the oldest contact holding any of
# its keys; a contact matched by several records takes the first. A matched
# contact takes the record's values by field provenance (contacts.provenance):
# a field the user set through the API never changes; an empty field is filled;
# otherwise the record replaces a value only when its (rank, source, record) is
# as good as or better than the value's, by $12 (each field's ranks of sources,
# kith.identities.field_ranks) for its source $11 — so any order of imports ends
# on the same values. Set fields (emails, phones, tags, links) add the values
# they lack, except those the user removed. A contact is written only if that
# changes something (a value, or which record a value is credited to); a contact
# the user deleted is left deleted.
# Unmatched records become contacts, the first $7 of them when the plan limits
# contacts ($7 the room left, NULL: no limit); the others are record errors
# (reason $8; the first $9 kept, their excerpt $10 characters of the name). $13 the run's checkpoint.
# Every key lands on its contact unless another contact holds it. Each record's look-ups are index probes of its own
# (its keys, then its contact), never a join between batch-sized sets, whose
# row counts the planner cannot know.
# ---- field provenance in the contacts batch: t is the record, c the contact it matched.

_CREDIT = "jsonb_build_object('source', $11::text, 'record', t.record, 'at', now())"


def _takes(field: str, entry: str) -> str:
    """SQL: the record may set a value of `field` whose provenance entry is `entry` (NULL: none yet)."""

    def rank(source: str) -> str:
        return f"coalesce(($12::text::jsonb -> '{field}' ->> {source})::int, {UNRANKED})"

    return f"""({entry} IS NULL OR ({entry} ->> 'source' <> '{USER}'
        AND ({rank("$11::text")}, $11::text, t.record)
            <= ({rank(f"({entry} ->> 'source')")}, {entry} ->> 'source', coalesce({entry} ->> 'record', ''))))"""


def _recredits(entry: str) -> str:
    return f"({entry} ->> 'source', {entry} ->> 'record') IS DISTINCT FROM ($11::text, t.record)"


_SCALAR_VALUES = {
    "full_name": ("t.full_name",),
    "company": ("t.company",),
    "title": ("t.title",),
    "birthday": ("t.birthday_month", "t.birthday_day", "t.birthday_year"),
    "notes": ("t.notes",),
}


def _renews(field: str) -> str:
    """SQL: the record replaces the value of a scalar field (a new value, or credit to another record)."""
    entry = f"(c.provenance -> '{field}')"
    given = _SCALAR_VALUES[field]
    current = ", ".join(v.replace("t.", "c.") for v in given)
    return f"""{given[0]} IS NOT NULL AND {_takes(field, entry)}
            AND (({", ".join(given)}) IS DISTINCT FROM ({current}) OR {_recredits(entry)}) AS {field}"""


def _set_values(field: str) -> str:
    return f"""c.{field} || array(SELECT x FROM unnest(t.{field}) x WHERE x <> ALL (c.{field})
                       AND (c.provenance -> '{field}' -> x ->> 'source') IS DISTINCT FROM '{USER}') AS {field}"""


def _set_credits(field: str) -> str:
    entry = f"(c.provenance -> '{field}' -> x)"
    return f"""'{field}', (SELECT coalesce(c.provenance -> '{field}', '{{}}') || jsonb_object_agg(x, {_CREDIT})
                    FROM unnest(t.{field}) x WHERE {_takes(field, entry)} AND {_recredits(entry)}
                    HAVING count(*) > 0)"""


def _scalar_value(field: str, column: str) -> str:
    return f"CASE WHEN r.{field} THEN t.{column} ELSE c.{column} END AS {column}"


# The identities of the record's values the contact keeps (not those of values the user removed).
_KEPT_IDENTITIES = "\n               UNION ".join(
    f"""SELECT i FROM unnest(t.{field}, t.{kind}_ids) v(value, i)
               WHERE i IS NOT NULL AND (value = ANY (c.{field})
                     OR (c.provenance -> '{field}' -> value ->> 'source') IS DISTINCT FROM '{USER}')"""
    for field, kind in (("emails", "email"), ("phones", "phone"), ("links", "link"))
)
_MERGED_IDENTITIES = f"""c.identities || array(
               SELECT i FROM ({_KEPT_IDENTITIES}) kept WHERE i <> ALL (c.identities) ORDER BY i) AS identities"""
_SET_VALUES = ",\n           ".join(_set_values(f) for f in SET_FIELDS)
_SCALAR_CREDITS = ", ".join(f"'{f}', CASE WHEN r.{f} THEN {_CREDIT} END" for f in SCALAR_FIELDS)
_SET_CREDITS = ",\n               ".join(_set_credits(f) for f in SET_FIELDS)
_RENEWS = ",\n                               ".join(_renews(f) for f in SCALAR_FIELDS)
_MERGED = f"""    SELECT c.id, t.key_kinds, t.key_values,
           coalesce(t.nickname, c.nickname) AS nickname,
           coalesce(t.department, c.department) AS department,
           c.addresses || coalesce((SELECT jsonb_agg(x) FROM jsonb_array_elements(t.addresses) x
                                    WHERE NOT c.addresses @> jsonb_build_array(x)), '[]') AS addresses,
           c.related || coalesce((SELECT jsonb_agg(x) FROM jsonb_array_elements(t.related) x
                                  WHERE NOT c.related @> jsonb_build_array(x)), '[]') AS related,
           {_scalar_value("full_name", "full_name")},
           {_scalar_value("company", "company")},
           {_scalar_value("title", "title")},
           {_scalar_value("birthday", "birthday_month")},
           {_scalar_value("birthday", "birthday_day")},
           {_scalar_value("birthday", "birthday_year")},
           {_scalar_value("notes", "notes")},
           {_SET_VALUES},
           c.external_ids || t.external_ids AS external_ids,
           {_MERGED_IDENTITIES},
           c.provenance || jsonb_strip_nulls(jsonb_build_object(
               {_SCALAR_CREDITS},
               {_SET_CREDITS})) AS provenance
    FROM targets t
    CROSS JOIN LATERAL (SELECT * FROM contacts
                        WHERE tenant_id = $1 AND id = t.match_id AND deleted_at IS NULL LIMIT 1) c
    CROSS JOIN LATERAL (SELECT {_RENEWS}) r"""

# A new contact's provenance: every value it has, credited to its record.
_NEW_SCALARS = ", ".join(
    f"'{f}', CASE WHEN {_SCALAR_VALUES[f][0]} IS NOT NULL THEN {_CREDIT} END" for f in SCALAR_FIELDS
)
_NEW_SETS = ", ".join(f"'{f}', (SELECT jsonb_object_agg(x, {_CREDIT}) FROM unnest(t.{f}) x)" for f in SET_FIELDS)
_NEW_PROVENANCE = f"jsonb_strip_nulls(jsonb_build_object({_NEW_SCALARS}, {_NEW_SETS}))"


_OVER_LIMIT_ERRORS = """(
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'index', o.source_index, 'reason', $8::text, 'excerpt', left(o.full_name, $10::int)) ORDER BY o.nth),
           '[]'::jsonb)
    FROM (SELECT * FROM over_limit ORDER BY nth LIMIT $9::int) o
)"""
CONTACTS_BATCH = f"""
WITH batch AS MATERIALIZED (
    SELECT b.*, m.match_id
    FROM jsonb_to_recordset($6::text::jsonb) AS b(
        ord int, full_name text, emails text[], phones text[], company text, title text, tags text[],
        links text[], birthday_month smallint, birthday_day smallint, birthday_year smallint, notes text,
        nickname text, department text, addresses jsonb, related jsonb,
        external_ids jsonb, key_kinds text[], key_values text[], email_ids text[], phone_ids text[], link_ids text[],
        record text, source_index int)
    CROSS JOIN LATERAL (
        SELECT min(ck.contact_id) AS match_id
        FROM unnest(b.key_kinds, b.key_values) AS k(kind, value)
        CROSS JOIN LATERAL (SELECT contact_id FROM contact_keys
                            WHERE tenant_id = $1 AND kind = k.kind AND value = k.value LIMIT 1) ck
    ) m
),
targets AS (SELECT DISTINCT ON (match_id) * FROM batch WHERE match_id IS NOT NULL ORDER BY match_id, ord),
merged AS (
{_MERGED}
),
updated AS (
    UPDATE contacts c
    SET full_name = m.full_name, emails = m.emails, phones = m.phones, company = m.company, title = m.title,
        tags = m.tags, links = m.links, birthday_month = m.birthday_month, birthday_day = m.birthday_day,
        birthday_year = m.birthday_year, notes = m.notes, nickname = m.nickname, department = m.department,
        addresses = m.addresses, related = m.related, external_ids = m.external_ids,
        identities = m.identities, provenance = m.provenance, updated_at = now()
    FROM merged m
    -- The ids are the tenant's (merged probed them). By id alone the one way in is the primary key:
    -- with the tenant's id too, statistics from before its rows existed make scanning all of them look cheap.
    WHERE c.id = ANY (ARRAY(SELECT id FROM merged)) AND c.id = m.id
      AND (c.full_name, c.emails, c.phones, c.company, c.title, c.tags, c.links, c.birthday_month,
           c.birthday_day, c.birthday_year, c.notes, c.nickname, c.department, c.addresses, c.related, c.external_ids,
           c.identities, c.provenance)
          IS DISTINCT FROM
          (m.full_name, m.emails, m.phones, m.company, m.title, m.tags, m.links, m.birthday_month,
           m.birthday_day, m.birthday_year, m.notes, m.nickname, m.department, m.addresses, m.related,
           m.external_ids, m.identities, m.provenance)
    RETURNING c.id
),
unmatched AS MATERIALIZED (
    SELECT b.*, row_number() OVER (ORDER BY b.ord) AS nth FROM batch b WHERE b.match_id IS NULL
),
new_contacts AS MATERIALIZED (
    SELECT u.*, nextval(pg_get_serial_sequence('contacts', 'id')) AS contact_id FROM unmatched u
    WHERE $7::int IS NULL OR u.nth <= $7::int
),
over_limit AS MATERIALIZED (SELECT * FROM unmatched WHERE nth > $7::int),
inserted AS (
    INSERT INTO contacts (id, tenant_id, full_name, emails, phones, company, title, tags, links,
                          birthday_month, birthday_day, birthday_year, notes, nickname, department, addresses,
                          related, external_ids, identities, provenance)
    SELECT t.contact_id, $1, t.full_name, t.emails, t.phones, t.company, t.title, t.tags, t.links,
           t.birthday_month, t.birthday_day, t.birthday_year, t.notes, t.nickname, t.department, t.addresses,
           t.related, t.external_ids,
           ARRAY(SELECT DISTINCT x FROM unnest(t.email_ids || t.phone_ids || t.link_ids) x WHERE x IS NOT NULL),
           {_NEW_PROVENANCE}
    FROM new_contacts t
),
inserted_keys AS (
    INSERT INTO contact_keys (tenant_id, contact_id, kind, value)
    SELECT $1, owner.contact_id, k.kind, k.value
    FROM (SELECT contact_id, key_kinds, key_values FROM new_contacts
          UNION ALL SELECT id, key_kinds, key_values FROM merged) owner
    CROSS JOIN LATERAL unnest(owner.key_kinds, owner.key_values) AS k(kind, value)
    ON CONFLICT DO NOTHING
),
touched AS (
    INSERT INTO sync_run_contacts (tenant_id, sync_run_id, contact_id)
    SELECT $1::bigint, $2::bigint, contact_id FROM new_contacts UNION SELECT $1, $2, id FROM updated
    ON CONFLICT DO NOTHING
),
{
    _progress(
        "(SELECT count(*) FROM new_contacts)",
        "(SELECT count(*) FROM updated)",
        "$13",
        "(SELECT count(*) FROM over_limit)::int",
        _OVER_LIMIT_ERRORS,
        created="(SELECT count(*) FROM new_contacts)",
    )
}
SELECT (SELECT count(*) FROM new_contacts) AS inserted, (SELECT count(*) FROM updated) AS updated,
       (SELECT count(*) FROM new_contacts) AS contacts_created, (SELECT count(*) FROM over_limit) AS over_limit
"""

# The tenant's company names, for the feed matcher (kith.sync.companies), read once per import: a
# skip scan of ix_contacts_tenant_company (one index probe per distinct company, however many
# contacts), keeping the names a live contact works at.
COMPANY_NAMES = """
WITH RECURSIVE company_names(name) AS (
    (SELECT company FROM contacts WHERE tenant_id = $1 AND company IS NOT NULL ORDER BY company LIMIT 1)
    UNION ALL
    SELECT (SELECT c.company FROM contacts c WHERE c.tenant_id = $1 AND c.company > n.name
            ORDER BY c.company LIMIT 1)
    FROM company_names n WHERE n.name IS NOT NULL
)
SELECT n.name FROM company_names n
WHERE n.name IS NOT NULL
  AND EXISTS (SELECT 1 FROM contacts k WHERE k.tenant_id = $1 AND k.company = n.name AND k.deleted_at IS NULL)
"""

# Mentions (RSS/Atom). $6 source, $7 the items (a JSON array, unique on dedupe_key within the batch),
# each with the companies the matcher found in it; $8 the run's checkpoint.
MENTIONS_BATCH = f"""
WITH batch AS (
    SELECT b.* FROM jsonb_to_recordset($7::text::jsonb)
        AS b(ord int, dedupe_key text, title text, link text, summary text, published_at timestamptz,
             companies text[])
),
upserted AS (
    INSERT INTO mentions (tenant_id, source, dedupe_key, title, link, summary, published_at, companies)
    SELECT $1, $6, b.dedupe_key, b.title, b.link, b.summary, b.published_at, b.companies
    FROM batch b
    ON CONFLICT (tenant_id, dedupe_key) DO UPDATE
    SET title = excluded.title, link = excluded.link, summary = excluded.summary,
        published_at = excluded.published_at, companies = excluded.companies
    WHERE (mentions.title, mentions.link, mentions.summary, mentions.published_at, mentions.companies)
          IS DISTINCT FROM (excluded.title, excluded.link, excluded.summary, excluded.published_at, excluded.companies)
    RETURNING (xmax = 0) AS inserted
),
{
    _progress(
        "(SELECT count(*) FROM upserted WHERE inserted)", "(SELECT count(*) FROM upserted WHERE NOT inserted)", "$8"
    )
}
SELECT (SELECT count(*) FROM upserted WHERE inserted) AS inserted,
       (SELECT count(*) FROM upserted WHERE NOT inserted) AS updated, 0::bigint AS contacts_created
"""
