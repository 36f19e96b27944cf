"""The scoring statements: one set-based pass each, the formula written once (see kith.scoring.service)."""

from __future__ import annotations

# Per contact, from its messages: the last one, how many in the last 90 days,
# and how many each way in the last 365 days. `{where}` scopes the messages.
_STATS = """
    max(m.sent_at) AS last_at,
    count(*) FILTER (WHERE m.sent_at >= now() - interval '90 days') AS n90,
    count(*) FILTER (WHERE m.direction = 'in' AND m.sent_at >= now() - interval '365 days') AS n_in,
    count(*) FILTER (WHERE m.direction = 'out' AND m.sent_at >= now() - interval '365 days') AS n_out
"""


# A contact's messages: those it is the contact of, and those it is one more participant of
# (message_participants: the others in To/Cc of an imported mail), each on an index led by
# (tenant_id, contact_id). `{tenant}` and `{contact}` are SQL naming the contact.
def _contact_messages(tenant: str, contact: str) -> str:
    return f"""(
        SELECT m.sent_at, m.direction FROM messages m WHERE m.tenant_id = {tenant} AND m.contact_id = {contact}
        UNION ALL
        SELECT p.sent_at, p.direction FROM message_participants p
        WHERE p.tenant_id = {tenant} AND p.contact_id = {contact}
    ) m"""


# Every contact's messages, as _contact_messages (`{where}` scopes both to a tenant, or `true`).
def _all_contact_messages(where: str) -> str:
    return f"""(
        SELECT m.tenant_id, m.contact_id, m.sent_at, m.direction FROM messages m
        WHERE {where.format(t="m")} AND m.contact_id IS NOT NULL
        UNION ALL
        SELECT p.tenant_id, p.contact_id, p.sent_at, p.direction FROM message_participants p WHERE {where.format(t="p")}
    ) m"""


# 0–100, two decimals; NULL stats (no messages) score 0. The age is capped at
# ten years so the decay never underflows float8.
_SCORE = """
    round((100 * (
        0.5 * CASE WHEN s.last_at IS NULL THEN 0 ELSE
                  power(0.5::float8, least(greatest(extract(epoch FROM now() - s.last_at)::float8 / 86400, 0), 3650) / 30) END
      + 0.3 * least(1, ln(1 + coalesce(s.n90, 0)::float8) / ln(31))
      + 0.2 * coalesce(2 * least(s.n_in, s.n_out)::float8 / nullif(s.n_in + s.n_out, 0), 0)
    ))::numeric, 2)::float8
"""

# Writes only contacts whose score or last interaction changes; never changed_at (batch job, DESIGN).
_APPLY = """
    UPDATE contacts c SET score = x.score, last_interaction_at = x.last_at
    FROM computed x
    WHERE c.tenant_id = x.tenant_id AND c.id = x.id
      AND (c.score, c.last_interaction_at) IS DISTINCT FROM (x.score, x.last_at)
"""

# The contacts one sync run touched, each through ix_messages_tenant_contact_sent_id (and its participant rows);
# the run's score stage is recorded by the same statement. $1 sync_run_id.
SCORE_RUN = f"""
WITH run AS (SELECT tenant_id FROM sync_runs WHERE id = $1),
computed AS (
    SELECT t.tenant_id, t.contact_id AS id, s.last_at, {_SCORE} AS score
    FROM sync_run_contacts t
    CROSS JOIN LATERAL (
        SELECT {_STATS} FROM {_contact_messages("t.tenant_id", "t.contact_id")}
    ) s
    WHERE t.tenant_id = (SELECT tenant_id FROM run) AND t.sync_run_id = $1
),
scored AS ({_APPLY} RETURNING 1)
UPDATE sync_runs r
SET stages = r.stages || jsonb_build_object('score', jsonb_build_object(
        'status', 'succeeded', 'contacts', n.scored, 'started_at', statement_timestamp(),
        'finished_at', clock_timestamp(),
        'duration_ms', (extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000)::int)),
    updated_at = clock_timestamp()
FROM (SELECT count(*) AS scored FROM scored) n
WHERE r.id = $1
RETURNING n.scored
"""

# Every contact of one tenant ($1), or of all tenants: one aggregate over the
# messages (a scan beats a look-up per contact at this size), joined to every
# contact so one whose messages are gone drops back to 0.
RESCORE_TENANT = f"""
WITH stats AS (
    SELECT m.contact_id, {_STATS} FROM {_all_contact_messages("{t}.tenant_id = $1")}
    GROUP BY m.contact_id
),
computed AS (
    SELECT c.tenant_id, c.id, s.last_at, {_SCORE} AS score
    FROM contacts c LEFT JOIN stats s ON s.contact_id = c.id
    WHERE c.tenant_id = $1
),
scored AS ({_APPLY} RETURNING 1)
SELECT count(*) FROM scored
"""

RESCORE_ALL = f"""
WITH stats AS (
    SELECT m.tenant_id, m.contact_id, {_STATS} FROM {_all_contact_messages("true")}
    GROUP BY m.tenant_id, m.contact_id
),
computed AS (
    SELECT c.tenant_id, c.id, s.last_at, {_SCORE} AS score
    FROM contacts c LEFT JOIN stats s ON s.tenant_id = c.tenant_id AND s.contact_id = c.id
),
scored AS ({_APPLY} RETURNING 1)
SELECT count(*) FROM scored
"""

# One contact ($1 tenant, $2 contact) after an API write (a message sent): its score and last
# interaction now, and marked changed so listings read its card live until the next refresh.
RESCORE_CONTACT = f"""
WITH computed AS (
    SELECT c.tenant_id, c.id, s.last_at, {_SCORE} AS score
    FROM contacts c
    CROSS JOIN LATERAL (
        SELECT {_STATS} FROM {_contact_messages("c.tenant_id", "c.id")}
    ) s
    WHERE c.tenant_id = $1 AND c.id = $2
)
UPDATE contacts c SET score = x.score, last_interaction_at = x.last_at, changed_at = now()
FROM computed x
WHERE c.tenant_id = x.tenant_id AND c.id = x.id
"""

RECORD_FAILURE = """
    UPDATE sync_runs
    SET stages = stages || jsonb_build_object('score', jsonb_build_object('status', 'failed', 'error', $2::text,
                                                                         'finished_at', clock_timestamp())),
        updated_at = clock_timestamp()
    WHERE id = $1
"""
