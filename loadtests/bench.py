"""Every benchmark in one run, and one table of ratios, each measured side by side in that run.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/kith_bench uv run python loadtests/bench.py [--seed]

The database must hold the large tenant (`--seed` migrates it and seeds `large` when it is missing:
about three minutes on 2 cores). Each script runs in turn (its own output goes to
`loadtests/results/<time>/<script>.txt`); the figures it records (loadtests/figures.py) make the
table, printed and written to `docs/benchmarks.md` with the date, the machine and the command.
Rate limits are lifted for the HTTP benchmarks (a plan and an address limit of their own): they
measure speed, not the limiter, and every answer other than 2xx/304 is counted.

`--quick --tenant NAME` runs every script at a tiny size (seconds each; the test suite does, so no
script breaks unnoticed); the figures then mean nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
KITH = [sys.executable, "-m", "kith"]


@dataclass(frozen=True)
class Part:
    """One script: its arguments for the real run and for a quick one (`{tenant}` is the tenant's name)."""

    script: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    records: tuple[str, ...] = ()  # the prefixes of the figure keys it records


PARTS = [
    Part(
        "bench_pagination.py",
        ("--tenant", "{tenant}"),
        ("--tenant", "{tenant}", "--runs", "5", "--pages", "1,2"),
        ("pagination.",),
    ),
    Part(
        "bench_search.py",
        ("--tenant", "{tenant}", "--server"),
        ("--tenant", "{tenant}", "--runs", "3"),
        ("search.",),
    ),
    Part(
        "bench_http.py",
        ("--tenant", "{tenant}", "--seconds", "5", "--rounds", "3"),
        ("--tenant", "{tenant}", "--seconds", "1", "--rounds", "1", "--concurrency", "2"),
        ("http.",),
    ),
    Part(
        "bench_conversations.py",
        ("--tenant", "{tenant}", "--old-runs", "1"),
        ("--tenant", "{tenant}", "--runs", "3", "--old-runs", "1"),
        ("conversations.", "messages."),
    ),
    Part(
        "bench_aggregates.py",
        ("--tenant", "{tenant}", "--slow-runs", "3"),
        ("--tenant", "{tenant}", "--runs", "3", "--slow-runs", "1", "--wide-companies", "200", "--feed-names", "1000"),
        ("dashboard.", "mentions.", "companies."),
    ),
    Part(
        "bench_ingest.py",
        (),
        (
            "--messages",
            "1000",
            "--per-row",
            "100",
            "--repeats",
            "1",
            "--cards",
            "200",
            "--rss-messages",
            "100",
            "--score-size",
            "tiny",
        ),
        ("ingest.", "scoring."),
    ),
    Part(
        "bench_refresh.py",
        ("--tenant", "{tenant}"),
        ("--tenant", "{tenant}", "--readers", "1", "--idle-seconds", "1", "--size", "tiny", "--no-full"),
        ("refresh.",),
    ),
    Part(
        "bench_connectors.py",
        (),
        ("--messages", "200", "--latency", "0"),
        ("connectors.",),
    ),
    Part(
        "bench_github.py",
        (),
        ("--pulls", "300", "--days", "60"),
        ("github.",),
    ),
    Part(
        "bench_people.py",
        ("--large-db", "{database}", "--tenant", "{tenant}"),
        ("--large-db", "{database}", "--tenant", "{tenant}", "--messages", "100", "--cards", "200"),
        ("people.",),
    ),
    Part(
        "bench_replicas.py",
        ("--seconds", "10"),
        ("--clients", "2", "--seconds", "1", "--rounds", "5"),
        ("replicas.",),
    ),
    Part(
        "bench_abuse.py",
        ("--seconds", "10"),
        ("--good", "2", "--bad", "2", "--seconds", "1", "--size", "tiny"),
        ("abuse.",),
    ),
]


def figure(figures: dict[str, dict], key: str, field: str) -> float | None:
    value = figures.get(key, {}).get(field)
    return float(value) if isinstance(value, int | float) else None


def deepest(figures: dict[str, dict], prefix: str) -> str | None:
    """The key of the deepest page recorded under `prefix` (`prefix.page_N`)."""
    pages = [int(m.group(1)) for k in figures if (m := re.fullmatch(re.escape(prefix) + r"\.page_(\d+)", k))]
    return f"{prefix}.page_{max(pages)}" if pages else None


@dataclass(frozen=True)
class Ratio:
    """A row of the table: what is compared, the two figures, and what the design asks of it."""

    label: str
    numerator: Callable[[dict], tuple[str | None, str]]
    denominator: Callable[[dict], tuple[str | None, str]]
    target: str
    higher_is: str = "slower"  # what a ratio above 1 means: the numerator is slower (times) or faster (rates)


def key(name: str, field: str = "median"):
    return lambda figures: (name, field)


def deep(prefix: str, field: str = "median"):
    return lambda figures: (deepest(figures, prefix), field)


RATIOS = [
    Ratio("cursor page N vs page 1 (SQL median)", deep("pagination.cursor"), key("pagination.cursor.page_1"), "≤ 1.5×"),
    Ratio("OFFSET page N vs cursor page N (SQL median)", deep("pagination.offset"), deep("pagination.cursor"), "≫ 1×"),
    Ratio("COUNT(*) vs the planner's estimate", key("pagination.count"), key("pagination.estimate"), "≫ 1×"),
    Ratio(
        "HTTP: Kith cursor walk vs hand-tuned handler (req/s)",
        key("http.kith_walk", "rps"),
        key("http.peer_walk", "rps"),
        "≥ 1.0×",
        "faster",
    ),
    Ratio(
        "HTTP: Kith cursor walk vs FastAPI + ORM + OFFSET/COUNT (req/s)",
        key("http.kith_walk", "rps"),
        key("http.fastapi_offset", "rps"),
        "≫ 1×",
        "faster",
    ),
    Ratio(
        "HTTP: Kith repeat read vs the floor (req/s)",
        key("http.kith_repeat", "rps"),
        key("http.floor", "rps"),
        "≥ 0.5×",
        "faster",
    ),
    Ratio(
        "HTTP: Kith 304 vs the floor (req/s)", key("http.kith_304", "rps"), key("http.floor", "rps"), "≥ 0.7×", "faster"
    ),
    Ratio(
        "conversations page 1: old window functions vs Kith",
        key("conversations.old_window.page_1"),
        key("conversations.kith.page_1"),
        "≫ 1×",
    ),
    Ratio(
        "conversations deep page: Kith vs page 1",
        deep("conversations.kith"),
        key("conversations.kith.page_1"),
        "≤ 1.5×",
    ),
    Ratio(
        "long thread, deep page: old ownership + OFFSET vs Kith", deep("messages.old"), deep("messages.kith"), "≫ 1×"
    ),
    Ratio(
        "dashboard: six base-table queries vs Kith's one",
        key("dashboard.old_six_queries"),
        key("dashboard.kith"),
        "≫ 1×",
    ),
    Ratio(
        "a company's mentions: filter in Python vs GIN listing",
        key("mentions.old_python"),
        key("mentions.kith"),
        "≫ 1×",
    ),
    Ratio("companies deep page vs page 1", deep("companies.contacts"), key("companies.contacts.page_1"), "≤ 1.5×"),
    Ratio(
        "ingest: Kith batch path vs bare COPY (msg/s)",
        key("ingest.kith", "rate"),
        key("ingest.copy", "rate"),
        "≥ 0.5×",
        "faster",
    ),
    Ratio(
        "ingest: peak RSS, 10× the input vs 1×", key("ingest.rss.large", "mib"), key("ingest.rss.small", "mib"), "≈ 1×"
    ),
    Ratio(
        "connectors: peak RSS of a first Gmail sync, 10× the mailbox vs 1×",
        key("connectors.first_sync.large", "mib"),
        key("connectors.first_sync.small", "mib"),
        "≈ 1×",
    ),
    Ratio(
        "connectors: API requests, incremental sync of 100 changes vs a first sync of the 10× mailbox",
        key("connectors.incremental", "requests"),
        key("connectors.first_sync.large", "requests"),
        "≪ 1×",
        "faster",
    ),
    Ratio(
        "github: pull-request pages read, a 30-day window vs the whole 10,000-PR repository",
        key("github.window", "pages"),
        key("github.full", "pages"),
        "≪ 1×",
        "faster",
    ),
    Ratio(
        "github: peak RSS, reading the whole repository vs a 30-day window",
        key("github.full", "mib"),
        key("github.window", "mib"),
        "≈ 1×",
    ),
    Ratio(
        "replicas: listing req/s with 2 read targets vs 1",
        key("replicas.2_read_targets", "rps"),
        key("replicas.1_read_target", "rps"),
        "> 1×",
        "faster",
    ),
    Ratio(
        "replicas: a read right after a write vs a plain read (median)",
        key("replicas.read_after_write"),
        key("replicas.read_plain"),
        "≈ 1×",
    ),
    Ratio(
        "listing p99 during a refresh vs idle",
        key("refresh.listing.during_concurrent", "p99"),
        key("refresh.listing.idle", "p99"),
        "≈ 1×",
    ),
]

# Figures quoted as they are (no ratio).
ABSOLUTES = [
    ("cursor page N, SQL p99 (ms)", deep("pagination.cursor", "p99"), "< 5 ms"),
    (
        "search: the worst page p99 over the queries and the sweep (ms)",
        key("search.worst_page_p99", "median"),
        "< 10 ms",
    ),
    ("scoring a whole tenant (s)", key("scoring.tenant", "seconds"), "seconds"),
    ("small tenant's import → listed (s)", key("refresh.small_import_listed", "seconds"), "≤ 2 s"),
    ("re-import of unchanged cards (cards/s)", key("ingest.cards.unchanged", "rate"), ""),
    ("duplicate candidates of the whole tenant (s)", key("people.candidates.first", "seconds"), "seconds"),
    ("merge of two contacts with 10,000 messages each (s)", key("people.merge", "seconds"), ""),
    ("re-import of an unchanged 50,000-card vCard: rows written", key("people.cards.unchanged", "written"), "0"),
    ("Gmail first sync from the fake (messages/s)", key("connectors.first_sync.large", "rate"), ""),
    (
        "GitHub: an unchanged repository's second sync, requests that cost rate limit",
        key("github.unchanged", "rate_limited"),
        "0",
    ),
]


def evaluate(figures: dict[str, dict]) -> list[tuple[str, str, str, str, str]]:
    """Rows of (what, numerator, denominator, ratio, target); a missing figure is shown as such."""
    rows = []
    for ratio in RATIOS:
        (num_key, num_field), (den_key, den_field) = ratio.numerator(figures), ratio.denominator(figures)
        num = figure(figures, num_key, num_field) if num_key else None
        den = figure(figures, den_key, den_field) if den_key else None
        shown = f"{num / den:,.2f}×" if num is not None and den else "—"
        rows.append((ratio.label, _show(num, num_field), _show(den, den_field), shown, ratio.target))
    for label, pick, target in ABSOLUTES:
        name, field = pick(figures)
        value = figure(figures, name, field) if name else None
        rows.append((label, _show(value, field), "", "", target))
    return rows


def _show(value: float | None, field: str) -> str:
    if value is None:
        return "—"
    unit = {"median": " ms", "p99": " ms", "rps": " req/s", "rate": "/s", "mib": " MiB", "seconds": " s"}.get(field, "")
    if not unit:  # a count
        return f"{value:,.0f}"
    return f"{value:,.3f}{unit}" if value < 10 else f"{value:,.0f}{unit}"


def machine() -> str:
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if "model name" in line
            ),
            platform.processor() or "unknown CPU",
        )
        if Path("/proc/cpuinfo").exists()
        else platform.processor()
    )
    memory = ""
    if Path("/proc/meminfo").exists():
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 2**20:.0f} GiB"
    load = ", load {:.1f} {:.1f} {:.1f} at the start".format(*os.getloadavg()) if hasattr(os, "getloadavg") else ""
    return f"{cpu}, {os.cpu_count()} CPUs{memory}, {platform.system()} {platform.release()}, Python {platform.python_version()}{load}"


def ensure_seeded(tenant: str, env: dict) -> None:
    """Migrate, and seed the large tenant unless it has contacts already (kith seed refuses to seed twice)."""
    subprocess.run([*KITH, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    done = subprocess.run(
        [*KITH, "seed", "--tenant", tenant, "--size", "large"], env=env, capture_output=True, text=True
    )
    if done.returncode != 0 and "already has contacts" not in done.stderr:
        raise SystemExit(f"seeding {tenant!r} failed: {done.stderr.strip()[-500:]}")


def run_parts(parts: list[Part], tenant: str, quick: bool, out_dir: Path, env: dict) -> tuple[dict, list[str]]:
    """Run each script; the figures they recorded, and the scripts that failed."""
    figures_file = out_dir / "figures.jsonl"
    env = {**env, "KITH_BENCH_FIGURES": str(figures_file), "PYTHONUNBUFFERED": "1"}
    failed = []
    for part in parts:
        database = env["DATABASE_URL"].rsplit("/", 1)[-1].split("?")[0]
        args = [a.format(tenant=tenant, database=database) for a in (part.quick if quick else part.full)]
        print(f"── {part.script} {shlex.join(args)}", flush=True)
        started = time.monotonic()
        with open(out_dir / f"{Path(part.script).stem}.txt", "w") as log:
            done = subprocess.run(
                [sys.executable, str(HERE / part.script), *args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
        took = time.monotonic() - started
        if done.returncode != 0:
            failed.append(part.script)
            tail = (out_dir / f"{Path(part.script).stem}.txt").read_text().strip().splitlines()[-5:]
            print(f"   FAILED (exit {done.returncode}, {took:.0f} s):\n     " + "\n     ".join(tail), flush=True)
        else:
            print(f"   done in {took:.0f} s", flush=True)
    figures = {}
    if figures_file.exists():
        for line in figures_file.read_text().splitlines():
            entry = json.loads(line)
            figures[entry.pop("key")] = entry
    return figures, failed


def table(rows: list[tuple[str, str, str, str, str]]) -> str:
    lines = ["| compared | figure | against | ratio | design target |", "| --- | ---: | ---: | ---: | --- |"]
    lines += [f"| {what} | {a} | {b} | {r} | {t} |" for what, a, b, r, t in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenant", default="large")
    parser.add_argument("--seed", action="store_true", help="migrate and seed the tenant (large) when it is missing")
    parser.add_argument("--quick", action="store_true", help="every script at a tiny size (to check they run)")
    parser.add_argument("--only", default="", help="comma-separated scripts to run (default: all)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where to write the report (default: docs/benchmarks.md; none with --quick)",
    )
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        raise SystemExit("set DATABASE_URL to a scratch database (the benchmarks write to it)")
    env = {**os.environ}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    if args.seed:
        ensure_seeded(args.tenant, env)

    only = {name.removesuffix(".py") for name in args.only.split(",") if name}
    parts = [p for p in PARTS if not only or Path(p.script).stem in only]
    stamp = dt.datetime.now(dt.UTC)
    results = HERE / "results" if not args.quick else Path(tempfile.mkdtemp(prefix="kith-bench-"))
    out_dir = results / stamp.strftime("%Y%m%dT%H%M%SZ")
    out_dir.mkdir(parents=True, exist_ok=True)
    figures, failed = run_parts(parts, args.tenant, args.quick, out_dir, env)
    rows = evaluate(figures)
    command = "uv run python loadtests/bench.py " + shlex.join(sys.argv[1:])
    report = (
        f"# Kith benchmarks\n\n{stamp:%Y-%m-%d %H:%M} UTC; {machine()}.\n\n"
        f"Command: `DATABASE_URL=… {command}` on the seeded large tenant (1,000,000 contacts, 10,000,000 messages, "
        f"beside small tenants). Every ratio is of two figures measured in the same run; medians unless the row "
        f"says p99. Each script's full output: `loadtests/results/<time>/`.\n\n{table(rows)}\n"
    )
    if skipped := [p.script for p in PARTS if p not in parts]:
        report += "\nNot run this time (`--only`; their figures are missing): " + ", ".join(skipped) + "\n"
    if failed:
        report += "\nFailed scripts (their figures are missing): " + ", ".join(failed) + "\n"
    print("\n" + table(rows))
    out = args.out or (None if args.quick else REPO / "docs" / "benchmarks.md")
    if out is not None:
        out.write_text(report)
        print(f"\nwritten to {out}")
    print(f"outputs in {out_dir}")
    if failed:
        raise SystemExit(f"{len(failed)} script(s) failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
