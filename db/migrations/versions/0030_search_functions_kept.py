"""The search's two look-ups keep their plans: PL/pgSQL functions, not SQL ones.

kith_search_keys and kith_search_indexed (migrations 0027, 0028) are each asked once a search, and a SQL
function's body is planned again at every call: 0.44 and 0.83 ms a call on 1,000,000 contacts, round trip
included. As PL/pgSQL functions, their statements are planned once a connection and kept (0.32 and 0.34 ms).
The same statements, the same results.

Revision ID: 0030
Revises: 0029
"""

from __future__ import annotations

from kith.db.scripts import run_sql_script

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION kith_search_keys(slice text, body text) RETURNS real
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    AS $$ BEGIN RETURN (
    SELECT min(coalesce(
        (SELECT s.keys FROM search_trigrams s WHERE s.relation = slice AND s.trigram = substr(w.m[1], g.i, 3)), 0))
    FROM regexp_matches(kith_search_text(body), '[[:alnum:]]{3,}', 'g') AS w(m)
    CROSS JOIN LATERAL generate_series(1, length(w.m[1]) - 2) AS g(i)
    WHERE EXISTS (SELECT 1 FROM search_trigrams WHERE relation = slice AND keys IS NOT NULL)
    ); END $$;

CREATE OR REPLACE FUNCTION kith_search_indexed(slice text, body text) RETURNS text
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    AS $$ BEGIN RETURN (
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
    ); END $$;
"""

# What downgrade puts back: 0028's SQL functions.
FUNCTIONS_0028 = r"""
CREATE OR REPLACE FUNCTION kith_search_keys(slice text, body text) RETURNS real
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN (
    SELECT min(coalesce(
        (SELECT s.keys FROM search_trigrams s WHERE s.relation = slice AND s.trigram = substr(w.m[1], g.i, 3)), 0))
    FROM regexp_matches(kith_search_text(body), '[[:alnum:]]{3,}', 'g') AS w(m)
    CROSS JOIN LATERAL generate_series(1, length(w.m[1]) - 2) AS g(i)
    WHERE EXISTS (SELECT 1 FROM search_trigrams WHERE relation = slice AND keys IS NOT NULL)
    );

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


def upgrade() -> None:
    run_sql_script(FUNCTIONS)


def downgrade() -> None:
    run_sql_script(FUNCTIONS_0028)
