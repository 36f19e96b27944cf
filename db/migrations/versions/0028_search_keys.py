"""Search bounds: how many keys of a slice a query can match at most, by the slice's trigram statistics.

A search (`q`) that matches few keys is fastest read on the trigram index whole (every match, sorted), one
that matches many by walking the sort's index. Which one a query is used to be guessed from a glance at the
first 4,000 rows of the walk, which costs 1–2 ms on 1,000,000 contacts and guesses badly for terms on 0.1–0.3%
of them (kith.contacts.listings). Every key a query matches holds each trigram of its words, so the
fewest keys holding one of them bounds its matches from above.

- `search_trigrams.keys`: the number of the slice's keys a trigram's sampled share stands for (the share over
  the sampled fraction of the slice's pages). Written after each refresh of a slice with the rest of the
  statistics (the last section of db/views/contact_cards.sql), and here for the slices that exist;
- `kith_search_keys(slice, body)`: the fewest keys of the slice holding one of the trigrams of the body's
  words (a trigram not in the statistics: 0, it was seen fewer than twice). NULL when the slice has no
  statistics or the body no word of three or more letters or digits.
- `kith_search_indexed` looks each trigram up by key: joined, the planner hashed every trigram of the slice
  for the query's few (1.3 ms of each search on 1,000,000 contacts, more with more distinct trigrams).

Frozen copy of the statistics section of db/views/contact_cards.sql.

Revision ID: 0028
Revises: 0027
"""

from __future__ import annotations

from alembic import op

from kith.db.scripts import run_sql_script

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

SCHEMA = r"""
ALTER TABLE search_trigrams ADD COLUMN keys real;

CREATE FUNCTION kith_search_keys(slice text, body text) RETURNS real
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN (
    SELECT min(coalesce(
        (SELECT s.keys FROM search_trigrams s WHERE s.relation = slice AND s.trigram = substr(w.m[1], g.i, 3)), 0))
    FROM regexp_matches(kith_search_text(body), '[[:alnum:]]{3,}', 'g') AS w(m)
    CROSS JOIN LATERAL generate_series(1, length(w.m[1]) - 2) AS g(i)
    WHERE EXISTS (SELECT 1 FROM search_trigrams WHERE relation = slice AND keys IS NOT NULL)
    );

-- As in 0027, but each trigram's share is looked up by key: a join let the planner hash every trigram of
-- the slice for the query's few (1.3 ms a search on 1,000,000 contacts, more with more distinct trigrams).
CREATE OR REPLACE FUNCTION kith_search_indexed(slice text, body text) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN (
    WITH looked AS (
        SELECT w.n, w.m[1] AS word, g.i, coalesce(
            (SELECT s.share FROM search_trigrams s WHERE s.relation = slice AND s.trigram = substr(w.m[1], g.i, 3)),
            0) AS share
        FROM regexp_matches(kith_search_text(body), '[[:alnum:]]{3,}', 'g') WITH ORDINALITY AS w(m, n)
        CROSS JOIN LATERAL generate_series(1, length(w.m[1]) - 2) AS g(i)
    ), grams AS MATERIALIZED (
        SELECT n, word, i, share, row_number() OVER (PARTITION BY n ORDER BY share, i) AS rank FROM looked
    ), kept AS (
        SELECT n, word, min(i) AS first, max(i) AS last FROM grams
        WHERE (rank = 1 AND share <= 0.3) OR (rank = 2 AND share <= 0.05)
           OR (n, i) = (SELECT n, i FROM grams ORDER BY share, n, i LIMIT 1)
        GROUP BY n, word
    )
    SELECT '%' || string_agg(
        CASE WHEN last - first >= 3 THEN substr(word, first, 3) || '%' || substr(word, last, 3)
             ELSE substr(word, first, last - first + 3) END, '%' ORDER BY n) || '%'
    FROM kept
    WHERE EXISTS (SELECT 1 FROM search_trigrams WHERE relation = slice)
    );
"""

STATISTICS_SQL = r"""-- After each refresh of a slice (kith.readmodels.coalesced_refresh), in a transaction of its own: the
-- search's statistics of the slice (search_trigrams), which kith_search_indexed reads to ask the trigram
-- index for the rare parts of a query (migration 0027) and kith_search_keys to bound how many keys a query
-- matches (migration 0028). Each trigram of three letters or digits with the share of search keys holding
-- it and the number of the slice's keys that share stands for, from a sample of about 300 pages (all of a
-- smaller slice); one seen fewer than twice is left out (rare).
DELETE FROM search_trigrams WHERE relation = '{slice}';
WITH fraction AS (
    SELECT least(1.0, 300.0 / greatest(pg_relation_size('{slice}') / 8192, 1)) AS sampled
), sampled AS MATERIALIZED (
    SELECT search_key FROM {slice} TABLESAMPLE SYSTEM ((SELECT 100 * sampled FROM fraction))
)
INSERT INTO search_trigrams (relation, trigram, share, keys)
SELECT '{slice}', t.trigram, count(*)::real / (SELECT count(*) FROM sampled),
       count(*) / (SELECT sampled FROM fraction)
FROM sampled s CROSS JOIN LATERAL unnest(show_trgm(s.search_key)) AS t(trigram)
WHERE t.trigram ~ '^[[:alnum:]]{3}$'
GROUP BY t.trigram
HAVING count(*) >= 2;
"""

# What downgrade puts back: 0027's kith_search_indexed.
INDEXED_0027 = r"""
CREATE OR REPLACE FUNCTION kith_search_indexed(slice text, body text) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN (
    WITH grams AS (
        SELECT w.n, w.m[1] AS word, g.i, coalesce(s.share, 0) AS share,
               row_number() OVER (PARTITION BY w.n ORDER BY coalesce(s.share, 0), g.i) AS rank
        FROM regexp_matches(kith_search_text(body), '[[:alnum:]]{3,}', 'g') WITH ORDINALITY AS w(m, n)
        CROSS JOIN LATERAL generate_series(1, length(w.m[1]) - 2) AS g(i)
        LEFT JOIN search_trigrams s ON s.relation = slice AND s.trigram = substr(w.m[1], g.i, 3)
    ), kept AS (
        SELECT n, word, min(i) AS first, max(i) AS last FROM grams
        WHERE (rank = 1 AND share <= 0.3) OR (rank = 2 AND share <= 0.05)
           OR (n, i) = (SELECT n, i FROM grams ORDER BY share, n, i LIMIT 1)
        GROUP BY n, word
    )
    SELECT '%' || string_agg(
        CASE WHEN last - first >= 3 THEN substr(word, first, 3) || '%' || substr(word, last, 3)
             ELSE substr(word, first, last - first + 3) END, '%' ORDER BY n) || '%'
    FROM kept
    WHERE EXISTS (SELECT 1 FROM search_trigrams WHERE relation = slice)
    );
"""


def upgrade() -> None:
    run_sql_script(SCHEMA)
    populated = op.get_bind().exec_driver_sql(
        "SELECT matviewname FROM pg_matviews WHERE schemaname = 'public' AND ispopulated"
        " AND matviewname ~ '^contact_cards_(h|t)[0-9]+$' ORDER BY matviewname"
    )
    for (relation,) in list(populated):
        run_sql_script(STATISTICS_SQL.replace("{slice}", relation))


def downgrade() -> None:
    run_sql_script(INDEXED_0027)
    op.execute("DROP FUNCTION kith_search_keys(text, text)")
    op.execute("ALTER TABLE search_trigrams DROP COLUMN keys")
