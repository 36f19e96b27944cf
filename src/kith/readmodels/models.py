"""The read models, declared: one object each. Nothing else spells a read model's name.

A read model is materialized views (`db/views/NAME.sql`: the definition and its
indexes) holding its rows, an optional live definition read for the rows an API
write changed since the refresh (same columns), and the base table whose
`changed_at` marks those writes. Its rows are held in slices, each a
materialized view with its own refresh record (`view_refreshes`, one row per
slice: `as_of`, `generation`, coalescing state); `slice_of(tenant)` says which
slice holds a tenant's rows. Listings, aggregates, the refresher and the jobs
take these objects.

`generation` is drawn from one sequence on every successful refresh of a slice,
so it only ever grows, across slices too: a page made of several read models
(the dashboard) changes when the greatest generation among them does, and a
tenant's pages change when its slices' generation does.
"""

from __future__ import annotations

from dataclasses import dataclass

from kith.db.paths import VIEWS_DIR


@dataclass(frozen=True, slots=True, eq=False)  # compared and hashed by identity: module constants
class ReadModel:
    name: str  # db/views/<name>.sql
    live: str | None = None  # a plain view with the slices' columns, read for rows changed since as_of
    changed: str | None = None  # with `live`: the base table whose `changed_at` marks API writes (same ids)
    # The live view holds only the rows changed since as_of, seeking an index in the listing's order, and
    # `changed` keeps its marks in a partial index: a refresh clears the marks it took in (for its tenants).
    live_only_changed: bool = False

    def __post_init__(self) -> None:
        if (self.live is None) != (self.changed is None):
            raise ValueError(f"{self.name}: `live` and `changed` go together")

    @property
    def sql(self) -> str:
        """The view file: its definition and its indexes (the source of truth)."""
        return (VIEWS_DIR / f"{self.name}.sql").read_text()

    def slices(self) -> tuple[Slice, ...]:
        return (Slice(self, self.name),)

    def slice_of(self, tenant_id: int) -> Slice:
        """The slice holding the tenant's rows."""
        return self.slices()[0]


@dataclass(frozen=True, slots=True)
class Slice:
    """One materialized view of a read model, holding the rows of some tenants."""

    model: ReadModel
    relation: str  # the materialized view; its refresh record is view_refreshes.view_name = relation

    @property
    def tenants(self) -> str:
        """SQL over `tenant_id`: the tenants whose rows (and change marks) this slice holds."""
        return "true"


CONTACT_CARDS = ReadModel("contact_cards", live="contact_card_rows", changed="contacts")
CONVERSATION_SUMMARIES = ReadModel(
    "conversation_summaries", live="conversation_summary_live", changed="conversations", live_only_changed=True
)
COMPANY_STATS = ReadModel("company_stats")
TAG_STATS = ReadModel("tag_stats")
COMPANY_MENTIONS_DAILY = ReadModel("company_mentions_daily")
TENANT_MESSAGES_DAILY = ReadModel("tenant_messages_daily")
TENANT_DASHBOARD = ReadModel("tenant_dashboard")

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
        for candidate in model.slices():
            if candidate.relation == relation:
                return candidate
    raise UnknownReadModelError(f"no slice named {relation!r}")


def freshness_sql(*slices: Slice) -> str:
    """A one-row SELECT of `as_of` (the oldest) and `generation` (the greatest) of these slices."""
    if not slices:
        return "SELECT CAST(NULL AS timestamptz) AS as_of, CAST(NULL AS bigint) AS generation"
    names = ", ".join(f"'{s.relation}'" for s in slices)  # relation names are declared here, never input
    return f"SELECT min(as_of) AS as_of, max(generation) AS generation FROM view_refreshes WHERE view_name IN ({names})"
