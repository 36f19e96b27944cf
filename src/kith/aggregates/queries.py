"""The aggregate endpoints' SQL: one statement each, every part an index look-up or range."""

from __future__ import annotations

from functools import cache

from sqlalchemy import TextClause, text

from kith.readmodels.models import (
    COMPANY_MENTIONS_DAILY,
    COMPANY_STATS,
    CONTACT_CARDS,
    TENANT_DASHBOARD,
    Slice,
    freshness_sql,
)

COMPANY_COLUMNS = "name, contacts, avg_score, last_interaction_at, messages_30d, mentions_30d, recent_activity"

# The dashboard, one row. Stored numbers come from tenant_dashboard (a tenant created since the
# refresh has no row yet: zeros). What is relative to now is computed here:
# - overdue: contacts falling due before today (UTC) from the stored per-day counts, plus those
#   falling due earlier today, on contact_cards' follow-up index (the same key the overdue listing uses);
# - upcoming birthdays: the stored per-month-day counts over the one or two month-day ranges of the
#   next days in the tenant's time zone (the second range is empty unless the window wraps the year).
#   (Counting contact_cards' birthday index instead read 15,000 entries, 3.6 ms, on the large tenant.)
# next_due, the next follow-up falling due (the same index), is when overdue_contacts next moves.
# Top companies seek company_stats' recent-activity index; the last sync run sync_runs' created index.
# as_of is the oldest refresh among the tenant's slices the row is made of, generation the greatest.
# Each statement is built per slice (the relations holding the tenant's rows), once.


def dashboard(tenant_id: int) -> TextClause:
    return _dashboard(
        TENANT_DASHBOARD.slice_of(tenant_id), COMPANY_STATS.slice_of(tenant_id), CONTACT_CARDS.slice_of(tenant_id)
    )


@cache
def _dashboard(board: Slice, companies: Slice, cards: Slice) -> TextClause:
    return text(
        f"""
    SELECT
        f.as_of, f.generation, f.routed,
        coalesce(d.contacts, 0) AS contacts,
        coalesce((SELECT sum(due.contacts) FROM unnest(d.follow_up_due_days, d.follow_up_due_counts)
                      AS due(day, contacts)
                  WHERE due.day < (now() AT TIME ZONE 'UTC')::date), 0)
        + (SELECT count(*) FROM {cards.relation} cc
           WHERE cc.tenant_id = :tenant_id
             AND cc.follow_up_due_key >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
             AND cc.follow_up_due_key < now()) AS overdue_contacts,
        (SELECT min(cc.follow_up_due_key) FROM {cards.relation} cc
         WHERE cc.tenant_id = :tenant_id AND cc.follow_up_due_key >= now()) AS next_due,
        coalesce((SELECT sum(b.contacts) FROM unnest(d.birthday_days, d.birthday_counts) AS b(mmdd, contacts)
                  WHERE b.mmdd BETWEEN :first0 AND :last0 OR b.mmdd BETWEEN :first1 AND :last1), 0)
            AS upcoming_birthdays,
        coalesce(d.messages_7d, 0) AS messages_7d,
        coalesce(d.messages_30d, 0) AS messages_30d,
        coalesce(d.conversations_awaiting_reply, 0) AS conversations_awaiting_reply,
        (SELECT coalesce(json_agg(top ORDER BY top.recent_activity DESC, top.name DESC), '[]')::text FROM (
            SELECT {COMPANY_COLUMNS} FROM {companies.relation}
            WHERE tenant_id = :tenant_id ORDER BY recent_activity DESC, name DESC LIMIT 5
        ) top) AS top_companies,
        (SELECT row_to_json(run)::text FROM (
            SELECT id, source, status, rows_seen, rows_inserted, rows_updated, rows_failed, created_at, finished_at
            FROM sync_runs WHERE tenant_id = :tenant_id ORDER BY created_at DESC, id DESC LIMIT 1
        ) run) AS last_sync_run
    FROM ({freshness_sql(board, companies, cards)}) f
    LEFT JOIN {board.relation} d ON d.tenant_id = :tenant_id
    """
    )


# A company's mentions per day, dense: every day of [:first, :last] (tenant-local dates), 0 where the
# view has no row; read as one range of the view's unique index. No rows but the first when the
# company is unknown to the tenant (no contact works there and no mention names it): a 404.


def daily_mentions(tenant_id: int) -> TextClause:
    return _daily_mentions(COMPANY_MENTIONS_DAILY.slice_of(tenant_id), COMPANY_STATS.slice_of(tenant_id))


@cache
def _daily_mentions(daily: Slice, companies: Slice) -> TextClause:
    return text(
        f"""
    WITH meta AS MATERIALIZED (
        SELECT f.as_of, f.generation, f.routed,
               EXISTS (SELECT 1 FROM {companies.relation} WHERE tenant_id = :tenant_id AND name = :company)
               OR EXISTS (SELECT 1 FROM {daily.relation} WHERE tenant_id = :tenant_id AND company = :company)
               AS found
        FROM ({freshness_sql(daily)}) f
    )
    SELECT meta.as_of, meta.generation, meta.routed, meta.found, days.day, coalesce(counted.mentions, 0) AS mentions
    FROM meta
    LEFT JOIN LATERAL (
        SELECT g.day::date AS day FROM generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') g(day)
        WHERE meta.found AND meta.routed
    ) days ON true
    LEFT JOIN (
        SELECT day, mentions FROM {daily.relation}
        WHERE tenant_id = :tenant_id AND company = :company AND day BETWEEN :first AND :last
    ) counted ON counted.day = days.day
    ORDER BY days.day
    """
    )


# One company, with its slice's as_of and generation (a row even when the company is missing: then NULLs).
def company(tenant_id: int) -> TextClause:
    return _company(COMPANY_STATS.slice_of(tenant_id))


@cache
def _company(companies: Slice) -> TextClause:
    return text(
        f"""
    SELECT f.as_of, f.generation, f.routed, s.*
    FROM ({freshness_sql(companies)}) f
    LEFT JOIN (SELECT {COMPANY_COLUMNS} FROM {companies.relation} WHERE tenant_id = :tenant_id AND name = :name) s
        ON true
    """
    )
