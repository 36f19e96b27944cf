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

# The tenant of a sync run (the finder runs after each import).
RUN_TENANT = text("SELECT tenant_id FROM sync_runs WHERE id = :id")

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
