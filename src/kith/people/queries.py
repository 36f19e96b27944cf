"""The SQL of duplicates, merges and the audit: each a set-based statement over one tenant."""

from __future__ import annotations

from sqlalchemy import text

# How sure each kind of shared identity makes a pair (contacts.identities kinds); names at the same company
# weigh their trigram similarity by NAME_WEIGHT. Evidence combines as independent: 1 - Π(1 - c).
STRONG_CONFIDENCE = {"email": 0.95, "phone": 0.9, "url": 0.9}
NAME_WEIGHT = 0.6

# Every duplicate candidate group of tenant :tenant_id, found in one statement and stored in duplicate_groups:
# contacts sharing an identity (one group per shared set of contacts, whatever the number of reasons), and
# pairs of contacts at the same company (case aside) whose names have a trigram similarity (pg_trgm) of at
# least :name_similarity. The pairs compared are those sharing a name word of 3+ letters at that company,
# in blocks of at most :block_limit contacts (a common first name at a large company is no evidence), so
# the work follows the tenant's size, not its square. A group found before keeps its id (and a dismissed
# one stays dismissed); a group no longer found is deleted unless dismissed.
FIND_DUPLICATES = text(
    f"""
WITH live AS MATERIALIZED (
    SELECT id, identities, lower(full_name) AS name, lower(company) AS company
    FROM contacts WHERE tenant_id = :tenant_id AND deleted_at IS NULL
),
shared AS (
    SELECT split_part(i, ':', 1) AS kind, substr(i, strpos(i, ':') + 1) AS value,
           array_agg(id ORDER BY id) AS member_ids
    FROM live, unnest(identities) i GROUP BY i HAVING count(*) > 1
),
words AS (
    SELECT DISTINCT l.id, l.company, word
    FROM live l, regexp_split_to_table(l.name, '[^[:alnum:]'']+') word
    WHERE l.company IS NOT NULL AND length(word) >= 3
),
blocks AS (
    SELECT array_agg(id) AS ids FROM words GROUP BY company, word HAVING count(*) BETWEEN 2 AND :block_limit
),
pairs AS (SELECT DISTINCT a, b FROM blocks, unnest(ids) a, unnest(ids) b WHERE a < b),
similar_names AS (
    SELECT la.company AS value, ARRAY[p.a, p.b] AS member_ids, similarity(la.name, lb.name) AS score
    FROM pairs p JOIN live la ON la.id = p.a JOIN live lb ON lb.id = p.b
    WHERE similarity(la.name, lb.name) >= :name_similarity
),
evidence AS (
    SELECT member_ids, kind, value,
           CASE kind {" ".join(f"WHEN '{k}' THEN {c}" for k, c in STRONG_CONFIDENCE.items())} ELSE 0.8 END AS confidence
    FROM shared
    UNION ALL
    SELECT member_ids, 'name_company', value, round(({NAME_WEIGHT} * score)::numeric, 2)::float FROM similar_names
),
found AS (
    SELECT member_ids,
           jsonb_agg(jsonb_build_object('kind', kind, 'value', value, 'confidence', confidence)
                     ORDER BY confidence DESC, kind, value) AS reasons,
           round((1 - exp(sum(ln(1 - confidence))))::numeric, 3)::float8 AS confidence
    FROM evidence GROUP BY member_ids
),
stored AS (
    INSERT INTO duplicate_groups (tenant_id, member_ids, reasons, confidence)
    SELECT :tenant_id, member_ids, reasons, confidence FROM found
    ON CONFLICT (tenant_id, member_ids) DO UPDATE SET reasons = excluded.reasons, confidence = excluded.confidence
    WHERE (duplicate_groups.reasons, duplicate_groups.confidence)
          IS DISTINCT FROM (excluded.reasons, excluded.confidence)
    RETURNING 1
),
gone AS (
    DELETE FROM duplicate_groups d
    WHERE d.tenant_id = :tenant_id AND d.dismissed_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM found f WHERE f.member_ids = d.member_ids)
    RETURNING 1
)
SELECT (SELECT count(*) FROM found) AS groups, (SELECT count(*) FROM stored) AS stored,
       (SELECT count(*) FROM gone) AS gone
"""
)

# The tenant of a sync run, and whether the run created or changed contacts (else the finder need not run).
RUN_TENANT = text(
    """
SELECT tenant_id, coalesce((stages #>> '{sync,contacts_created}')::int, 0) > 0 OR rows_updated > 0 AS contacts_changed
FROM sync_runs WHERE id = :id
"""
)

# Dismiss a live group of the tenant; returns its id and members (none: no such group).
DISMISS_GROUP = text(
    """
UPDATE duplicate_groups SET dismissed_at = now(), dismissed_by = :token_id
WHERE tenant_id = :tenant_id AND id = :id AND dismissed_at IS NULL
RETURNING id, member_ids
"""
)

RECORD_AUDIT = text(
    """
INSERT INTO audit_events (tenant_id, action, subject, token_id, user_id)
VALUES (:tenant_id, :action, CAST(:subject AS jsonb), :token_id, :user_id)
"""
)

# ---------------------------------------------------------------- merges

# The contacts of a merge, locked for it (the survivor first), as whole rows: what a merge snapshots.
LOCK_CONTACTS = text(
    """
SELECT to_jsonb(c) AS row FROM contacts c
WHERE c.tenant_id = :tenant_id AND c.id = ANY (CAST(:ids AS bigint[])) AND c.deleted_at IS NULL
ORDER BY array_position(CAST(:ids AS bigint[]), c.id)
FOR UPDATE
"""
)

# How many messages a merge would move to the survivor.
COUNT_MESSAGES = text(
    "SELECT count(*) FROM messages WHERE tenant_id = :tenant_id AND contact_id = ANY (CAST(:ids AS bigint[]))"
)

# Move everything of the merged contacts (:ids) to :survivor_id in one statement: messages, conversations and
# keys (each on its (tenant_id, contact_id) index); the merged contacts are soft-deleted and marked changed,
# the groups naming them dropped. Returns what moved, by id, with the contact it came from: what undo puts back.
# A merged contact's participant rows (message_participants) become the survivor's, except on a message that is
# the survivor's now (its own, or a merged contact's moving to it), whose participant rows of the survivor go:
# a message counts once for a contact. Returns the participant rows removed and those added, whole: what undo
# puts back and takes away.
MOVE_TO_SURVIVOR = text(
    """
WITH participants_removed AS (
    DELETE FROM message_participants p
    WHERE p.tenant_id = :tenant_id AND p.contact_id = ANY (CAST(:ids AS bigint[]) || CAST(:survivor_id AS bigint))
      AND (p.contact_id <> :survivor_id
           OR EXISTS (SELECT 1 FROM messages m WHERE m.tenant_id = :tenant_id AND m.id = p.message_id
                      AND m.contact_id = ANY (CAST(:ids AS bigint[]))))
    RETURNING p.contact_id, p.sent_at, p.message_id, p.direction
),
participants_added AS (
    INSERT INTO message_participants (tenant_id, contact_id, sent_at, message_id, direction)
    SELECT DISTINCT :tenant_id, CAST(:survivor_id AS bigint), r.sent_at, r.message_id, r.direction
    FROM participants_removed r
    WHERE r.contact_id <> :survivor_id
      AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.tenant_id = :tenant_id AND m.id = r.message_id
                      AND m.contact_id = ANY (CAST(:ids AS bigint[]) || CAST(:survivor_id AS bigint)))
    ON CONFLICT DO NOTHING
    RETURNING contact_id, sent_at, message_id, direction
),
messages_moved AS (
    UPDATE messages m SET contact_id = :survivor_id
    FROM (SELECT id, contact_id FROM messages
          WHERE tenant_id = :tenant_id AND contact_id = ANY (CAST(:ids AS bigint[]))) old
    WHERE m.tenant_id = :tenant_id AND m.id = old.id
    RETURNING m.id, old.contact_id AS from_id
),
conversations_moved AS (
    UPDATE conversations v SET contact_id = :survivor_id, changed_at = now()
    FROM (SELECT id, contact_id FROM conversations
          WHERE tenant_id = :tenant_id AND contact_id = ANY (CAST(:ids AS bigint[]))) old
    WHERE v.tenant_id = :tenant_id AND v.id = old.id
    RETURNING v.id, old.contact_id AS from_id
),
keys_moved AS (
    UPDATE contact_keys k SET contact_id = :survivor_id
    FROM (SELECT id, contact_id FROM contact_keys
          WHERE tenant_id = :tenant_id AND contact_id = ANY (CAST(:ids AS bigint[]))) old
    WHERE k.tenant_id = :tenant_id AND k.id = old.id
    RETURNING k.id, old.contact_id AS from_id
),
retired AS (
    UPDATE contacts SET deleted_at = now(), changed_at = now()
    WHERE tenant_id = :tenant_id AND id = ANY (CAST(:ids AS bigint[]))
),
stale_groups AS (
    DELETE FROM duplicate_groups
    WHERE tenant_id = :tenant_id AND dismissed_at IS NULL
      AND member_ids && (CAST(:ids AS bigint[]) || CAST(:survivor_id AS bigint))
)
SELECT (SELECT coalesce(jsonb_agg(m), '[]') FROM messages_moved m) AS messages,
       (SELECT coalesce(jsonb_agg(v), '[]') FROM conversations_moved v) AS conversations,
       (SELECT coalesce(jsonb_agg(k), '[]') FROM keys_moved k) AS keys,
       (SELECT coalesce(jsonb_agg(p), '[]') FROM participants_removed p) AS participants_removed,
       (SELECT coalesce(jsonb_agg(p), '[]') FROM participants_added p) AS participants_added
"""
)

# The survivor takes the merged card (:card: its columns as JSON).
UPDATE_SURVIVOR = text(
    """
UPDATE contacts c SET full_name = r.full_name, emails = r.emails, phones = r.phones, company = r.company,
    title = r.title, tags = r.tags, links = r.links, birthday_month = r.birthday_month,
    birthday_day = r.birthday_day, birthday_year = r.birthday_year, notes = r.notes, cadence_days = r.cadence_days,
    external_ids = r.external_ids, identities = r.identities, provenance = r.provenance,
    updated_at = now(), changed_at = now()
FROM jsonb_populate_record(NULL::contacts, CAST(:card AS jsonb)) r
WHERE c.tenant_id = :tenant_id AND c.id = :survivor_id
"""
)

RECORD_MERGE = text(
    """
INSERT INTO contact_merges (id, tenant_id, survivor_id, merged_ids, snapshot, token_id)
VALUES (:id, :tenant_id, :survivor_id, CAST(:ids AS bigint[]), CAST(:snapshot AS jsonb), :token_id)
"""
)

# A merge of the tenant not undone yet, locked for its undo, with whether it is within the undo window.
LOCK_MERGE = text(
    """
SELECT id, survivor_id, merged_ids, snapshot, created_at, undone_at,
       created_at >= now() - make_interval(secs => :window) AS undoable
FROM contact_merges WHERE tenant_id = :tenant_id AND id = :id
FOR UPDATE
"""
)

# Put the rows of :rows (whole contacts as JSON) back exactly, marked changed for the read models.
RESTORE_CONTACTS = text(
    """
UPDATE contacts c SET full_name = r.full_name, emails = r.emails, phones = r.phones, company = r.company,
    title = r.title, tags = r.tags, links = r.links, birthday_month = r.birthday_month,
    birthday_day = r.birthday_day, birthday_year = r.birthday_year, notes = r.notes, cadence_days = r.cadence_days,
    external_ids = r.external_ids, custom = r.custom, identities = r.identities, provenance = r.provenance,
    nickname = r.nickname, department = r.department, addresses = r.addresses, related = r.related,
    score = r.score, last_interaction_at = r.last_interaction_at, deleted_at = r.deleted_at,
    created_at = r.created_at, updated_at = r.updated_at, changed_at = now()
FROM jsonb_populate_recordset(NULL::contacts, CAST(:rows AS jsonb)) r
WHERE c.tenant_id = :tenant_id AND c.id = r.id
"""
)

# Messages, conversations and keys the merge moved go back to their contacts (those still on the survivor);
# the participant rows it added go, those it removed come back.
MOVE_BACK = text(
    """
WITH participants_taken AS (
    DELETE FROM message_participants p
    USING jsonb_to_recordset(CAST(:participants_added AS jsonb)) b(contact_id bigint, sent_at timestamptz,
                                                                    message_id bigint)
    WHERE p.tenant_id = :tenant_id AND p.contact_id = b.contact_id AND p.sent_at = b.sent_at
      AND p.message_id = b.message_id
),
participants_back AS (
    INSERT INTO message_participants (tenant_id, contact_id, sent_at, message_id, direction)
    SELECT :tenant_id, b.contact_id, b.sent_at, b.message_id, b.direction
    FROM jsonb_to_recordset(CAST(:participants_removed AS jsonb))
         b(contact_id bigint, sent_at timestamptz, message_id bigint, direction text)
    ON CONFLICT DO NOTHING
),
messages_back AS (
    UPDATE messages m SET contact_id = b.from_id
    FROM jsonb_to_recordset(CAST(:messages AS jsonb)) b(id bigint, from_id bigint)
    WHERE m.tenant_id = :tenant_id AND m.id = b.id AND m.contact_id = :survivor_id
),
conversations_back AS (
    UPDATE conversations v SET contact_id = b.from_id, changed_at = now()
    FROM jsonb_to_recordset(CAST(:conversations AS jsonb)) b(id bigint, from_id bigint)
    WHERE v.tenant_id = :tenant_id AND v.id = b.id AND v.contact_id = :survivor_id
)
UPDATE contact_keys k SET contact_id = b.from_id
FROM jsonb_to_recordset(CAST(:keys AS jsonb)) b(id bigint, from_id bigint)
WHERE k.tenant_id = :tenant_id AND k.id = b.id AND k.contact_id = :survivor_id
"""
)

MARK_UNDONE = text("UPDATE contact_merges SET undone_at = now() WHERE tenant_id = :tenant_id AND id = :id")
