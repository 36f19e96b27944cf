"""Every benchmark script runs, at a tiny size, so none breaks unnoticed (the figures mean nothing here).

Its own folder, collected early: the longest file of the suite starts first on one test process while
the other takes the rest (pytest-xdist by file)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from loadtests.bench import PARTS

REPO = Path(__file__).resolve().parents[2]


def test_bench_knows_every_benchmark_script() -> None:
    scripts = sorted(path.name for path in (REPO / "loadtests").glob("bench_*.py"))
    assert scripts == sorted(part.script for part in PARTS)


async def test_every_benchmark_script_runs_at_a_tiny_size(db: str, tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": db, "KITH_DATA_DIR": str(tmp_path / "data")}
    seeded = subprocess.run(
        [sys.executable, "-m", "kith", "seed", "--tenant", "bench", "--size", "tiny"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert seeded.returncode == 0, seeded.stderr
    report = tmp_path / "benchmarks.md"
    done = subprocess.run(
        [sys.executable, "loadtests/bench.py", "--quick", "--tenant", "bench", "--out", str(report)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    outputs = Path(done.stdout.strip().splitlines()[-1].removeprefix("outputs in "))
    recorded = [json.loads(line)["key"] for line in (outputs / "figures.jsonl").read_text().splitlines()]
    # Every script recorded its figures for the report: one that stopped recording shows here.
    for part in PARTS:
        for prefix in part.records:
            assert any(key.startswith(prefix) for key in recorded), f"{part.script} recorded nothing under {prefix}"
    assert "| compared |" in report.read_text()
