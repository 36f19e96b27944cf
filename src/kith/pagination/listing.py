"""One way to declare a listing: a `Listing` spec, and the machinery that turns spec + request into a page.

A spec names its read model (kith.readmodels.models: the slice holding the
tenant's rows, its live definition and change marks) or a base table, its sorts, its filters, its item Struct and its
name (the endpoint a cursor is bound to). `Listing.page` decodes the cursor,
builds the ONE statement, runs it and returns a `Page` with both cursors:

    WITH meta AS (as_of and generation of the tenant's slice, the guard),
         changed AS (ids an API write changed since as_of)        -- with a live definition
    SELECT meta.*, the page FROM meta LEFT JOIN LATERAL (
        (view rows not changed, seek, ORDER BY, LIMIT)
        UNION ALL (live rows changed, seek, ORDER BY, LIMIT)      -- with a live definition
        … per segment …
        ORDER BY segment, sort LIMIT n
    ) ON meta.found

With a live view holding only the changed rows there is no `changed` list: the live view holds only
the changed rows, and each view row is checked against its base row's mark.
Each branch seeks on the sort's index; the merge re-sorts at most
`branches × (limit + 1)` rows. The `meta` row is always there, so an empty
page still reports `as_of` and `generation`, and a false guard (a parent that does not exist
or is another tenant's) is a 404 without a second round trip. The statement
selects each of the item's fields by name, in the item's order, so an item
is its Struct called on the row's tail: `msgspec.convert(row, from_attributes=True)`
cost ~150 µs a row (7 ms a page of 50), the constructor ~2 µs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import msgspec
from sqlalchemy import TextClause, text

from kith.db.reads import Source, fetch_positional
from kith.pagination.cursor import Binding, Direction, Position
from kith.pagination.keyset import Sort
from kith.pagination.page import Freshness, Listed, Page, build_page, codec
from kith.problems import not_found
from kith.readmodels.models import ReadModel, Slice, freshness_sql
from kith.readmodels.routes import relearn_routes

__all__ = ["Filter", "Listing", "ListingRequest", "Position", "Segment", "Sort"]

KEY_PREFIX = "key_"
# A page statement's first row holds as_of, generation, routed and found (NULL in the rows after it); each
# row after it, one of the page's: its segment, then the sort key's columns, then the item's fields.
META_COLUMNS = 5
_AS_OF, _GENERATION, _ROUTED, _FOUND, _SEGMENT = range(META_COLUMNS)


@dataclass(frozen=True, slots=True)
class Filter:
    """A condition over the row alias `r.`; its bound parameter is named after the filter.

    `param` is the type of the query parameter of the same name on the listing's routes (e.g.
    `Annotated[str | None, Parameter(max_length=100)]`; kith.pagination.http), `convert` what turns its
    value into the bound one (e.g. a time's text into a time).

    With `probe`, the condition has an index of its own (a trigram index, say) that finds few rows fast
    but not in the sort's order, while walking the sort's index finds frequent matches fast. The view's
    branch first reads at most `first` matches on the filter's index (when `usable`, SQL over the
    parameters, says the index can narrow the search): fewer than that are every match, sorted there.
    Else it walks the first `probe` rows of the sort's index and keeps the matches; when they fill the
    page they are the page, else every match is read on the filter's index and sorted.
    With `glance`, a walk of that many rows comes before all of it: a frequent match fills the page there,
    sooner than the filter's index finds its first matches (whose rows it must read to check them). The
    glance is a sample too: when it found at least `dense` matches per page row (of `glance` rows), the
    walk of `probe` rows is expected to fill the page, and the filter's index is not read first.
    `indexed`, when given, is what the filter's index is asked (a condition every match meets, cheaper to
    look up there; `{relation}` in it stands for the relation read); `sql` is then checked on each row it finds.
    `check`, when given, is what the walks test on each row: the same condition as `sql`, cheaper row by row.
    `few`, when given, is SQL over the parameters (`{relation}` as in `indexed`) true when the filter's index
    is known to find fewer than `first` matches: the glance is skipped and they are read first.
    """

    sql: str
    param: Any = None
    convert: Callable[[Any], Any] | None = None
    probe: int | None = None
    first: int = 0
    usable: str = "true"
    glance: int = 0
    dense: float = 0.0
    indexed: str | None = None
    few: str | None = None
    check: str | None = None


@dataclass(frozen=True, slots=True)
class Segment:
    """A part of a listing with its own condition, read in order before the next one.

    Most listings have one. Upcoming birthdays have two when the window wraps
    the year end: this year's remaining days, then next year's first ones.
    `columns` are computed per segment (e.g. the year a birthday falls in);
    every segment of a listing names the same ones.
    """

    condition: str = "true"
    params: Mapping[str, Any] = field(default_factory=dict)
    columns: Mapping[str, str] = field(default_factory=dict)


ONE_SEGMENT = (Segment(),)

# Given the walk's context from the cursor (None on a first page): the context to carry on, and the segments.
SegmentPlan = Callable[[tuple[Any, ...] | None], tuple[tuple[Any, ...], Sequence[Segment]]]


@dataclass(frozen=True, slots=True)
class ListingRequest:
    tenant_id: int
    limit: int
    cursor: str | None = None
    sort: str | None = None  # None: the listing's default sort
    filters: Mapping[str, Any] = field(default_factory=dict)  # None values are not applied
    scope: Mapping[str, Any] = field(default_factory=dict)  # parameters of the spec's scope and guard
    start: Position | None = None  # open the listing at a key (e.g. before=t) instead of its top


@dataclass(frozen=True, slots=True)
class _Shape:
    """What the statement's text depends on, so each shape is built once."""

    sort: str
    direction: Direction
    seek_segment: int | None  # the segment the cursor's key is in (None: no key)
    filters: tuple[str, ...]
    # The segments read, each (number, condition, computed columns), and the computed columns' names.
    segments: tuple[tuple[int, str, tuple[tuple[str, str], ...]], ...]
    computed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PreparedPage:
    """A page's statement and what turning its rows into a page needs."""

    statement: TextClause
    params: dict[str, Any]
    position: Position | None
    binding: Binding
    context: tuple[Any, ...]
    key_length: int


@dataclass(frozen=True, slots=True, eq=False)  # compared and hashed by identity: specs are module constants
class Listing:
    name: str  # the endpoint a cursor is bound to
    item: type[msgspec.Struct]  # each field is read from the column of the same name
    sorts: Mapping[str, Sort]
    # Rows are read from the tenant's slice of a read model (with its as_of, generation and live rows), or
    # from a base table (`source`: fresh by nature, as_of and generation are null).
    read_model: ReadModel | None = None
    source: str | None = None
    default_sort: str | None = None  # None: the first sort
    filters: Mapping[str, Filter] = field(default_factory=dict)
    scope: str | None = None  # a condition always applied; its parameters come from request.scope
    # Evaluated once in the same statement (false is a 404), beside `f.as_of` (the slices'); given the
    # tenant when it names a read model's relation: those read models are `guard_reads` (their slices'
    # as_of, generation and route count with the page's).
    guard: str | Callable[[int], str] | None = None
    guard_reads: tuple[ReadModel, ...] = ()
    missing: str = "Not found"  # the 404's detail when the guard is false
    columns: Mapping[str, str] = field(default_factory=dict)  # per-field SQL over `r.`, where not `r.<field>`
    # A LATERAL look-up on each row of the page, aliased `l`, for fields its source does not hold (the
    # `columns` naming `l.` ones): e.g. a message's text, read by id for the timeline rows that lack it.
    lookup: str | None = None
    # The walk's context carried in the cursor ahead of the segment and the sort key (e.g. the day a
    # birthday walk started on); with it, `Listing.page` takes a SegmentPlan.
    context_types: tuple[type, ...] = ()
    # Fields whose column is JSON (jsonb): read as its text and put in the body as it is (msgspec.Raw), not
    # decoded into Python objects to be encoded again (10% of an uncached contacts page's time, profiled).
    raw_json: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if (self.read_model is None) == (self.source is None):
            raise ValueError(f"{self.name}: give a read model or a source, not both")

    @property
    def segmented(self) -> bool:
        return bool(self.context_types)

    def sort_named(self, name: str | None) -> tuple[str, Sort]:
        name = name or self.default_sort or next(iter(self.sorts))
        return name, self.sorts[name]

    def binding(self, request: ListingRequest, sort_name: str) -> Binding:
        return Binding(request.tenant_id, self.name, sort_name, {**request.filters, **request.scope})

    def prepare(self, request: ListingRequest, segments: SegmentPlan | None = None) -> PreparedPage:
        """Decode the request's cursor and build its statement (a 400 problem for a cursor not of this listing)."""
        sort_name, sort = self.sort_named(request.sort)
        binding = self.binding(request, sort_name)
        leading = (*self.context_types, int) if self.segmented else ()
        position = (
            codec().decode(request.cursor, binding, (*leading, *sort.key_types))
            if request.cursor is not None
            else request.start
        )
        context: tuple[Any, ...] = ()
        plan: Sequence[Segment] = ONE_SEGMENT
        cursor_segment = 0
        key = position.key if position else None
        if self.segmented:
            if segments is None:
                raise TypeError(f"{self.name} is segmented: pass its SegmentPlan")
            context, plan = segments(key[: len(self.context_types)] if key else None)
            if key:
                cursor_segment, key = key[len(self.context_types)], key[len(leading) :]
        direction: Direction = position.direction if position else "next"
        statement, params = self._statement(request, sort_name, sort, direction, key, plan, cursor_segment)
        return PreparedPage(statement, params, position, binding, context, len(sort.columns))

    async def page(self, source: Source, request: ListingRequest, segments: SegmentPlan | None = None) -> Page:
        """The page `request` asks for: one statement, items built from the columns named after their fields, both cursors."""
        return (await self.read(source, request, segments)).page

    async def read(self, source: Source, request: ListingRequest, segments: SegmentPlan | None = None) -> Listed:
        """The page and the freshness of what it was read from (as_of, generation), from the same statement."""
        prepared = self.prepare(request, segments)
        rows = await fetch_positional(source, prepared.statement, prepared.params)
        if not rows[0][_ROUTED]:  # the tenant moved to another slice since this process last heard
            await relearn_routes(source, request.tenant_id)
            prepared = self.prepare(request, segments)
            rows = await fetch_positional(source, prepared.statement, prepared.params)
        meta = rows[0]
        if not meta[_FOUND]:
            raise not_found(self.missing)
        segmented, context, item = self.segmented, prepared.context, self.item
        keys = slice(META_COLUMNS, META_COLUMNS + prepared.key_length)
        fields = keys.stop  # the item's fields follow, in its order (see _build_statement)
        raw = _raw_positions(self)

        def item_of(row: Any) -> Any:
            if not raw:
                return item(*row[fields:])
            values = list(row[fields:])
            for at in raw:
                if values[at] is not None:
                    values[at] = msgspec.Raw(values[at])
            return item(*values)

        def key_of(row: Any) -> tuple:
            segment = (row[_SEGMENT],) if segmented else ()
            return (*context, *segment, *row[keys])

        page = build_page(
            rows[1:],
            limit=request.limit,
            position=prepared.position,
            binding=prepared.binding,
            key_of=key_of,
            item_of=item_of,
            as_of=meta[_AS_OF],
        )
        return Listed(page, Freshness(meta[_AS_OF], meta[_GENERATION]))

    def _statement(
        self,
        request: ListingRequest,
        sort_name: str,
        sort: Sort,
        direction: Direction,
        key: Sequence[Any] | None,
        plan: Sequence[Segment],
        cursor_segment: int,
    ) -> tuple[TextClause, dict[str, Any]]:
        params: dict[str, Any] = {"tenant_id": request.tenant_id, "fetch": request.limit + 1, **request.scope}
        applied = tuple(name for name, value in request.filters.items() if value is not None)
        params.update((name, request.filters[name]) for name in applied)
        backwards = direction == "prev"
        numbers = []
        for number, segment in enumerate(plan):
            # Segments before the cursor's (in reading order) are done; later ones are read from their start.
            if (
                key is not None
                and self.segmented
                and (number > cursor_segment if backwards else number < cursor_segment)
            ):
                continue
            numbers.append(number)
            params.update(segment.params)
        if key is not None:
            params.update((f"{KEY_PREFIX}{i}", value) for i, value in enumerate(key))
        shape = _Shape(
            sort=sort_name,
            direction=direction,
            seek_segment=None if key is None else cursor_segment,
            filters=applied,
            segments=tuple((n, plan[n].condition, tuple(plan[n].columns.items())) for n in numbers),
            computed=tuple(plan[0].columns),
        )
        read_from = self.read_model.slice_of(request.tenant_id) if self.read_model else None
        guarded = tuple(model.slice_of(request.tenant_id) for model in self.guard_reads)
        guard = self.guard(request.tenant_id) if callable(self.guard) else self.guard
        return _build_statement(self, shape, read_from, guarded, guard), params


@cache
def _build_statement(
    listing: Listing, shape: _Shape, read_from: Slice | None, guarded: tuple[Slice, ...], guard: str | None
) -> TextClause:
    sort = listing.sorts[shape.sort]
    key_params = [f"{KEY_PREFIX}{i}" for i in range(len(sort.columns))]
    way = "DESC" if sort.reading_descending(shape.direction) else "ASC"
    segment_order = [f"segment {'DESC' if shape.direction == 'prev' else 'ASC'}"] if listing.segmented else []
    merged_order = ", ".join([*segment_order, *(f"{column} {way}" for column in sort.columns)])
    conditions = ["r.tenant_id = :tenant_id", *(listing.filters[name].sql for name in shape.filters)]
    if listing.scope:
        conditions.append(listing.scope)
    model = read_from.model if read_from else None
    source = read_from.relation if read_from else listing.source
    # With a live definition: the view's rows not changed since as_of, and the changed ones computed live.
    # With a live view holding only the marked rows (seeking an index in the sort's order), no list of
    # changed ids is gathered: each row read, of the slice or the live view, is checked against its mark
    # (a primary-key probe), and the live branch stops after the page's rows.
    if model and model.live and model.live_only_changed:
        # `IS TRUE`: the probe is by primary key; a plain comparison would imply the predicate of a
        # partial index on changed rows and invite a scan of it per row.
        changed_since = (
            f"EXISTS (SELECT 1 FROM {model.changed} c WHERE c.tenant_id = r.tenant_id AND c.id = r.id"
            " AND (c.changed_at >= (SELECT as_of FROM meta)) IS TRUE)"
        )
        memberships = [(source, f"NOT {changed_since}"), (model.live, changed_since)]
    elif model and model.live:
        memberships = [
            (source, "r.id <> ALL (CAST((SELECT ids FROM changed) AS bigint[]))"),
            (model.live, "r.id = ANY (CAST((SELECT ids FROM changed) AS bigint[]))"),
        ]
    else:
        memberships = [(source, "true")]
    probing = next((name for name in shape.filters if listing.filters[name].probe), None)
    order = sort.order_by(shape.direction, "r.")
    branches = []
    for number, condition, columns in shape.segments:
        computed = "".join(f", {sql} AS {name}" for name, sql in columns)
        seek = [sort.seek(shape.direction, "r.", key_params)] if shape.seek_segment == number else []
        for relation, membership in memberships:
            where = [*conditions, membership, f"({condition})", *seek]
            if probing and relation == source:
                branches.append(_probing_branch(listing, probing, number, computed, relation, where, sort, order))
                continue
            branches.append(
                f"(SELECT {number} AS segment{computed}, r.* FROM {relation} r WHERE {' AND '.join(where)}"
                f" ORDER BY {order} LIMIT :fetch)"
            )
    if not branches:  # the cursor is past every segment: an empty page (meta still reports as_of)
        nulls = "".join(f", NULL AS {name}" for name in shape.computed)
        branches.append(f"(SELECT CAST(NULL AS integer) AS segment{nulls}, r.* FROM {source} r WHERE false)")
    freshness = freshness_sql(*([read_from] if read_from else []), *guarded)
    ctes = [
        f"meta AS MATERIALIZED (SELECT f.as_of, f.generation, f.routed, {guard or 'true'} AS found"
        f" FROM ({freshness}) f)"
    ]
    if model and model.live and not model.live_only_changed:
        # `< 'infinity'` (true of every mark) bounds the range on both sides: a range with an unknown
        # end (as_of is read here) is estimated at 0.5% of the tenant's rows, an open one at a third,
        # which on a tenant holding most of the table (one user's 1,000,000 contacts) chose a scan of
        # every contact for each page: 380 ms instead of 0.3 ms.
        ctes.append(
            "changed AS MATERIALIZED (SELECT coalesce(array_agg(c.id), '{}') AS ids"
            f" FROM {model.changed} c WHERE c.tenant_id = :tenant_id"
            " AND c.changed_at >= (SELECT as_of FROM meta) AND c.changed_at < 'infinity')"
        )
    fields = [
        f"CAST({listing.columns.get(name, f'r.{name}')} AS text) AS {name}"
        if name in listing.raw_json
        else f"{listing.columns.get(name, f'r.{name}')} AS {name}"
        for name in listing.item.__struct_fields__
    ]
    keys = [f"r.{column} AS {name}" for column, name in zip(sort.columns, key_params, strict=True)]
    nothing = ", ".join(f"NULL AS {name}" for name in [*key_params, *listing.item.__struct_fields__])
    # The freshness comes once, in a row of its own before the page's rows (its segment is NULL, theirs
    # never is): repeated on each of 51 rows, decoding its time cost ~75 µs of a page's CPU. The page's rows
    # follow in the page's order with no ORDER BY over both: PostgreSQL's Append returns its inputs one after
    # the other (neither can run in a parallel worker: each reads the `meta` CTE), and a Nested Loop on one
    # row returns the LATERAL's rows in their order. Sorting the 52 rows again cost 0.3 ms of PostgreSQL's
    # time a page, as much as the rest of the statement.
    return text(
        f"WITH {', '.join(ctes)}"
        f" SELECT meta.as_of, meta.generation, meta.routed, meta.found, CAST(NULL AS integer) AS segment, {nothing}"
        " FROM meta UNION ALL"
        f" SELECT NULL, NULL, NULL, NULL, r.segment, {', '.join([*keys, *fields])}"
        " FROM meta JOIN LATERAL ("
        f"SELECT * FROM ({' UNION ALL '.join(branches)}) merged ORDER BY {merged_order} LIMIT :fetch"
        ") r ON meta.found AND meta.routed"
        f"{f' LEFT JOIN LATERAL ({listing.lookup}) l ON true' if listing.lookup else ''}"
    )


@cache
def _raw_positions(listing: Listing) -> tuple[int, ...]:
    """Where the item's raw JSON fields are among its fields."""
    return tuple(i for i, name in enumerate(listing.item.__struct_fields__) if name in listing.raw_json)


def _probing_branch(
    listing: Listing, name: str, number: int, computed: str, relation: str, where: list[str], sort: Sort, order: str
) -> str:
    """The branch of `relation` under a probing filter (see `Filter`): one of its three parts picks the page.

    The parts carry only the rows' ids and sort keys, so the walk is an index-only scan where the sort's
    index covers the filter's column, and a match costs its heap tuple once; the page's rows are then read
    by id (the slice's unique index). A read on the filter's index is a MATERIALIZED CTE over a fenced
    subquery (OFFSET 0) holding the filter alone, so even a generic plan reads it on that index only (not
    ANDed with a bitmap of the tenant's rows, which costs more than the matches), the other conditions
    applied to the matches. Each part is gated by one-time filters (CASE keeps their order), so a part
    not needed is never read.
    """
    spec = listing.filters[name]
    others = " AND ".join(part for part in where if part != spec.sql)
    keys = ", ".join(f"r.{column}" for column in sort.columns)  # the last one is the id
    glance, first, walked, matched, picked = (
        f"{part}_{number}" for part in ("glance", "first", "probe", "matches", "picked")
    )
    glanced = f"(SELECT count(*) >= :fetch FROM {glance})" if spec.glance else "false"  # the glance filled it
    # The glance found enough matches that the walk is expected to fill the page.
    dense = (
        f"(SELECT count(*) >= :fetch * {float(spec.dense)} FROM {glance})" if spec.glance and spec.dense else "false"
    )
    complete = f"(SELECT {spec.usable} AND count(*) < {int(spec.first)} FROM {first})"  # every match is in `first`
    filled = f"(SELECT count(*) >= :fetch FROM {walked})"  # the walk filled the page
    # `IS TRUE`: the filter itself is not asked of the index, only checked on what it finds.
    found = f"{spec.indexed.replace('{relation}', relation)} AND ({spec.sql}) IS TRUE" if spec.indexed else spec.sql
    matches = f"SELECT {keys} FROM (SELECT r.* FROM {relation} r WHERE {found} OFFSET 0) r WHERE {others}"

    def walk(rows: int, gate: str = "") -> str:
        return (
            f"SELECT {keys} FROM (SELECT {keys}, ({spec.check or spec.sql}) AS probe_match FROM {relation} r"
            f" WHERE {others}{gate}"
            f" ORDER BY {order} LIMIT {int(rows)}) r WHERE r.probe_match ORDER BY {order} LIMIT :fetch"
        )

    # Known to be few: the glance reads nothing (a one-time filter), so the matches are read first.
    skipped = f" AND NOT coalesce(({spec.few.replace('{relation}', relation)}), false)" if spec.few else ""
    glancing = f" {glance} AS MATERIALIZED ({walk(spec.glance, skipped)})," if spec.glance else ""
    return (
        f"(WITH{glancing} {first} AS MATERIALIZED ({matches} AND {spec.usable} LIMIT {int(spec.first)}),"
        f" {walked} AS MATERIALIZED ({walk(spec.probe)}),"
        f" {matched} AS MATERIALIZED ({matches}),"
        f" {picked} AS MATERIALIZED ("
        + (f"(SELECT r.id FROM {glance} r WHERE {glanced}) UNION ALL " if spec.glance else "")
        + f"(SELECT r.id FROM {first} r WHERE CASE WHEN {glanced} THEN false WHEN {dense} THEN false ELSE {complete} END"
        f" ORDER BY {order} LIMIT :fetch)"
        f" UNION ALL (SELECT r.id FROM {walked} r WHERE CASE WHEN {glanced} THEN false WHEN {dense} THEN {filled}"
        f" WHEN {complete} THEN false ELSE {filled} END)"
        f" UNION ALL (SELECT r.id FROM {matched} r"
        f" WHERE CASE WHEN {glanced} THEN false WHEN {dense} THEN NOT {filled} WHEN {complete} THEN false ELSE NOT {filled} END"
        f" ORDER BY {order} LIMIT :fetch))"
        f" SELECT {number} AS segment{computed}, r.* FROM {relation} r WHERE r.tenant_id = :tenant_id"
        f" AND r.id = ANY (ARRAY(SELECT id FROM {picked})) ORDER BY {order} LIMIT :fetch)"
    )
