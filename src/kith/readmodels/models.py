"""The read models, declared: one object each. Nothing else spells a read model's name.

A read model is a plain view of every tenant's rows, always current
(`db/views/NAME.sql`, with the indexes of its slices), an optional live
definition read for the rows an API write changed since the refresh (same
columns), and the base table whose `changed_at` marks those writes.

Its rows are stored in slices, each a materialized view with its own refresh
record (`view_refreshes`, one row per slice: `as_of`, `generation`, the
coalescing state), so a refresh costs what its tenants' rows cost:

* small tenants share HASH_SLICES slices, `NAME_h<k>` holding the tenants with
  `id % HASH_SLICES = k`;
* a large tenant has a slice of its own, `NAME_t<tenant id>`, recorded in
  `read_model_routes` (see kith.readmodels.isolation, which moves it there online).

`slice_of(tenant)` names the relation a tenant's rows are read from; a
statement reading it also checks, in the same snapshot, that it is still the
tenant's route (`routed`), so a process that has not heard of a move reads
again rather than serve the slice the tenant left. A plain view named NAME
unites the slices (each branch keeping only its routed tenants) for
whole-service queries.

`generation` is drawn from one sequence on every successful refresh of a slice,
so it only ever grows, across slices too: a page made of several read models
(the dashboard) changes when the greatest generation among them does, and a
tenant's pages change when its slices' generation does (a move included: the
new slice is refreshed after the tenant's last read of the old one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from kith.db.paths import VIEWS_DIR

# Shared slices per read model. Changing it is a migration (the slices are views of the database).
HASH_SLICES = 8

# Which read models each tenant this process has heard of has a slice of its own in (from the principal,
# or learnt from a statement that found its route moved).
_own_slices: dict[int, frozenset[str]] = {}


def learn_routes(tenant_id: int, own_slices: Iterable[str]) -> None:
    _own_slices[tenant_id] = frozenset(own_slices)


@dataclass(frozen=True, slots=True, eq=False)  # compared and hashed by identity: module constants
class ReadModel:
    name: str  # db/views/<name>.sql; also the plain view over all slices
    rows: str  # the plain view of every tenant's rows, always current
    live: str | None = None  # a plain view with the slices' columns, read for rows changed since as_of
    changed: str | None = None  # with `live`: the base table whose `changed_at` marks API writes (same ids)
    # The live view holds only the rows marked changed, seeking an index in the listing's order, and
    # `changed` keeps its marks in a partial index: a refresh clears the marks it took in (for its tenants).
    live_only_changed: bool = False
    # The order the slices' rows are written in (REFRESH without CONCURRENTLY, a new slice), after the tenant:
    # rows a search's index finds together then sit on few pages (a concurrent refresh writes what changed
    # wherever it finds room, so the order lasts until a slice is made again).
    physical_order: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.live is None) != (self.changed is None):
            raise ValueError(f"{self.name}: `live` and `changed` go together")

    @property
    def sql(self) -> str:
        """The view file: the rows' definition and the slices' indexes (the source of truth)."""
        return (VIEWS_DIR / f"{self.name}.sql").read_text()

    def hash_slices(self) -> tuple[Slice, ...]:
        return _hash_slices(self)

    def own_slice(self, tenant_id: int) -> Slice:
        return Slice(self, f"{self.name}_t{tenant_id}", tenant_id=tenant_id)

    def slice_of(self, tenant_id: int) -> Slice:
        """The slice holding the tenant's rows, as this process knows its routes."""
        if self.name in _own_slices.get(tenant_id, ()):
            return self.own_slice(tenant_id)
        return self.hash_slices()[tenant_id % HASH_SLICES]

    def union_sql(self, own: Iterable[Slice]) -> str:
        """The plain view over all slices, each branch keeping the tenants routed to it."""
        branches = [
            f"SELECT * FROM {s.relation} s WHERE {s.routed('s.tenant_id')}" for s in (*self.hash_slices(), *own)
        ]
        return f"CREATE OR REPLACE VIEW {self.name} AS\n" + "\nUNION ALL\n".join(branches)


@dataclass(frozen=True, slots=True)
class Slice:
    """One materialized view of a read model, holding the rows of some tenants."""

    model: ReadModel
    relation: str  # the materialized view; its refresh record is view_refreshes.view_name = relation
    hash_index: int | None = None  # a shared slice: tenants with id % HASH_SLICES = hash_index
    tenant_id: int | None = None  # a slice of its own: this tenant's

    def _isolated(self, tenant_sql: str) -> str:
        return (
            f"EXISTS (SELECT 1 FROM read_model_routes o WHERE o.tenant_id = {tenant_sql}"
            f" AND o.read_model = '{self.model.name}')"
        )

    def routed(self, tenant_sql: str = "tenant_id") -> str:
        """SQL: the tenant (an expression) is routed to this slice: it is read here, its marks cleared here."""
        if self.tenant_id is not None:
            return f"({tenant_sql} = {self.tenant_id} AND {self._isolated(tenant_sql)})"
        return f"({tenant_sql} % {HASH_SLICES} = {self.hash_index} AND NOT {self._isolated(tenant_sql)})"

    def may_hold(self, tenant_id: int) -> bool:
        """Whether the tenant's rows may be in this slice (its route aside)."""
        if self.tenant_id is not None:
            return tenant_id == self.tenant_id
        return tenant_id % HASH_SLICES == self.hash_index

    def create_sql(self) -> str:
        """The slice's materialized view (WITH DATA) and its indexes, as the view file declares them.

        A shared slice reads each of its tenants' rows on their own (OFFSET 0 keeps the subquery per
        tenant, its tenant_id an index condition in every base table), so its cost is its tenants' rows.
        A slice of its own is the plain rows of one tenant, planned with that tenant's statistics. A
        tenant moving to a slice of its own still has its rows in the shared one until that is refreshed;
        nobody reads them there (routes).
        """
        order = self.model.physical_order
        if self.tenant_id is not None:
            query = f"SELECT * FROM {self.model.rows} WHERE tenant_id = {self.tenant_id}"
            query += f" ORDER BY {', '.join(order)}" if order else ""
        else:
            query = (
                f"SELECT r.* FROM tenants t CROSS JOIN LATERAL"
                f" (SELECT * FROM {self.model.rows} x WHERE x.tenant_id = t.id OFFSET 0) r"
                f" WHERE {self.routed('t.id')}"
            )
            query += f" ORDER BY {', '.join(f'r.{column}' for column in ('tenant_id', *order))}" if order else ""
        indexes = _slice_part(self.model.sql).replace("{slice}", self.relation)
        return f"CREATE MATERIALIZED VIEW {self.relation} AS {query};\n{indexes}"

    def statistics_sql(self) -> str | None:
        """What the view file runs after each refresh of the slice (e.g. the search's statistics), or None."""
        view_file = self.model.sql
        if STATISTICS_MARKER not in view_file:
            return None
        return view_file[view_file.index(STATISTICS_MARKER) :].replace("{slice}", self.relation)


@cache  # read on every request (a page's slices)
def _hash_slices(model: ReadModel) -> tuple[Slice, ...]:
    return tuple(Slice(model, f"{model.name}_h{k}", hash_index=k) for k in range(HASH_SLICES))


SLICES_MARKER = "-- The read model's slices"
STATISTICS_MARKER = "-- After each refresh of a slice"


def _slice_part(view_file: str) -> str:
    """The part of a view file after its rows' definition: the slices' indexes (with `{slice}`), up to what
    runs after each refresh, if the file has such a part (last)."""
    end = view_file.find(STATISTICS_MARKER)
    return view_file[view_file.index(SLICES_MARKER) : end if end >= 0 else None]


# A company's contacts together (and its email domain with them): a search for a company on 0.2–0.3% of
# 1,000,000 contacts found its 2,000–3,000 matches on 126–195 pages instead of 2,000–2,900, and read the trigram
# index and the rows in half the time (loadtests/bench_search.py, docs/benchmarks.md).
CONTACT_CARDS = ReadModel(
    "contact_cards",
    rows="contact_card_rows",
    live="contact_card_rows",
    changed="contacts",
    physical_order=("company_key", "name_key"),
)
CONVERSATION_SUMMARIES = ReadModel(
    "conversation_summaries",
    rows="conversation_summary_rows",
    live="conversation_summary_live",
    changed="conversations",
    live_only_changed=True,
)
COMPANY_STATS = ReadModel("company_stats", rows="company_stats_rows")
TAG_STATS = ReadModel("tag_stats", rows="tag_stats_rows")
COMPANY_MENTIONS_DAILY = ReadModel("company_mentions_daily", rows="company_mentions_daily_rows")
TENANT_MESSAGES_DAILY = ReadModel("tenant_messages_daily", rows="tenant_messages_daily_rows")
TENANT_DASHBOARD = ReadModel("tenant_dashboard", rows="tenant_dashboard_rows")

# Refresh order: what an import changes shows in the listings first, the aggregates after.
READ_MODELS: tuple[ReadModel, ...] = (
    CONTACT_CARDS,
    CONVERSATION_SUMMARIES,
    COMPANY_STATS,
    TAG_STATS,
    COMPANY_MENTIONS_DAILY,
    TENANT_MESSAGES_DAILY,
    TENANT_DASHBOARD,
)


class UnknownReadModelError(LookupError):
    pass


def read_model_named(name: str) -> ReadModel:
    """The read model of a name given from outside (the CLI, a job's message)."""
    for model in READ_MODELS:
        if model.name == name:
            return model
    raise UnknownReadModelError(f"no read model named {name!r}; read models: {', '.join(m.name for m in READ_MODELS)}")


def slice_named(relation: str) -> Slice:
    """The slice of a relation name given from outside (a job's message)."""
    for model in READ_MODELS:
        for candidate in model.hash_slices():
            if candidate.relation == relation:
                return candidate
        number = relation.removeprefix(f"{model.name}_t")
        if number != relation and number.isdigit() and not number.startswith("0"):
            return model.own_slice(int(number))
    raise UnknownReadModelError(f"no slice named {relation!r}")


def freshness_sql(*slices: Slice) -> str:
    """A one-row SELECT of `as_of` (the oldest) and `generation` (the greatest) of these slices, and
    `routed`: each is still the route of :tenant_id (false: read the routes again, and the rows)."""
    if not slices:
        return "SELECT CAST(NULL AS timestamptz) AS as_of, CAST(NULL AS bigint) AS generation, true AS routed"
    names = ", ".join(f"'{s.relation}'" for s in slices)  # relation names are declared here, never input
    routed = " AND ".join(s.routed(":tenant_id") for s in slices)
    return (
        f"SELECT min(as_of) AS as_of, max(generation) AS generation, {routed} AS routed"
        f" FROM view_refreshes WHERE view_name IN ({names})"
    )
