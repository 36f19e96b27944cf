"""Search statistics: which trigrams of a contact_cards slice are common, so a search asks the index for rare ones.

A search (`q`) reads its matches on the slice's trigram index. Asked for the whole pattern, the index
reads the posting list of each of its trigrams, and some are in most keys: a word boundary's padded ones
("  i" of "foxglove inc."), an email's "exa" or "com", a company suffix's "lab". On 1,000,000 contacts
those lists cost up to 17 ms of a page. Every match of the pattern also matches a pattern made of some of
its trigrams in order, so the index can be asked for the rare ones and the pattern checked on the rows found.

- `search_trigrams`: per slice, each trigram of three letters or digits seen at least twice in a sample of
  its search keys, with the share of the sampled keys holding it. Written after each refresh of a slice
  (the last section of db/views/contact_cards.sql, run by kith.readmodels.coalesced_refresh), and here for
  the slices that exist;
- `kith_search_indexed(slice, body)`: the pattern to ask the index (kith.contacts.listings): for each word of
  the body (a run of three or more letters or digits) its rarest trigram, unless it is in more than 30% of
  the keys, and its second rarest if that is in at most 5% (adjacent ones as one piece); the rarest trigram
  of all if no word qualifies. NULL when the slice has no statistics or the body no word: the caller asks
  for the whole pattern.

Frozen copy of the statistics section of db/views/contact_cards.sql.

Revision ID: 0027
Revises: 0026
"""

from __future__ import annotations

from alembic import op

from kith.db.scripts import run_sql_script

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

SCHEMA = r"""
CREATE TABLE search_trigrams (
    relation text NOT NULL,
    trigram text NOT NULL,
    share real NOT NULL,
    PRIMARY KEY (relation, trigram)
);

CREATE FUNCTION kith_search_indexed(slice text, body text) RETURNS text
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

STATISTICS_SQL = r"""-- After each refresh of a slice (kith.readmodels.coalesced_refresh), in a transaction of its own: the
-- search's statistics of the slice (search_trigrams), which kith_search_indexed reads to ask the trigram
-- index for the rare parts of a query (migration 0027). Each trigram of three letters or digits with the
-- share of search keys holding it, from a sample of about 300 pages (all of a smaller slice); one seen
-- fewer than twice is left out (rare).
DELETE FROM search_trigrams WHERE relation = '{slice}';
WITH sampled AS MATERIALIZED (
    SELECT search_key FROM {slice}
    TABLESAMPLE SYSTEM ((SELECT least(100, 100.0 * 300 / greatest(pg_relation_size('{slice}') / 8192, 1))))
)
INSERT INTO search_trigrams (relation, trigram, share)
SELECT '{slice}', t.trigram, count(*)::real / (SELECT count(*) FROM sampled)
FROM sampled s CROSS JOIN LATERAL unnest(show_trgm(s.search_key)) AS t(trigram)
WHERE t.trigram ~ '^[[:alnum:]]{3}$'
GROUP BY t.trigram
HAVING count(*) >= 2;
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
    op.execute("DROP FUNCTION kith_search_indexed(text, text)")
    op.drop_table("search_trigrams")
