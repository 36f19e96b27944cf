"""The load test in one command: data, a load-test plan, servers and workers, users stepped up to the knee.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/kith_load uv run python loadtests/loadtest.py \\
        [--processes 2] [--tenants 5] [--steps 8,16,32,64,128] [--step-seconds 30]

1. Migrates the database and seeds what is missing: the large tenant (`kith seed --size large`, about
   three minutes on 2 cores; `--size` to choose another) and `--tenants - 1` small ones.
2. Puts every load tenant on the plan `loadtest` (created or updated with `kith plan`): 10,000,000
   requests a minute, 1,000 queued runs, 100 uploads in flight. Servers run with
   `KITH_RATE_LIMIT_PER_ADDRESS` lifted alike: the test measures Kith, not its limiter, so a 429 is a
   failure like any answer but 2xx/304.
3. Starts `kith serve --workers N` on 127.0.0.1 and, with `REDIS_URL`, one `kith worker` per queue.
4. Runs locust headless (loadtests/locustfile.py: scrollers, web clients, sync writers; `KITH_MIX`)
   for each step of users, and stops at the first step whose p99 passes `--p99-ms` (100) or that has a
   failure: the step before it is the knee. At the knee's users it runs once more without sync writers,
   to compare read latency while imports run with idle.
5. Writes locust's CSV and HTML of every step and `summary.md` under `loadtests/results/<time>/`.

Everything listens on 127.0.0.1 and stops by itself (each step is bounded by `--step-seconds`).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
KITH = [sys.executable, "-m", "kith"]
PLAN = "loadtest"
PLAN_LIMITS = ["--requests-per-minute", "10000000", "--max-queued-runs", "1000", "--max-uploads-in-flight", "100"]
READS = ("GET",)


@dataclass
class Step:
    users: int
    requests_per_s: float
    failures: int
    requests: int
    p50: float
    p95: float
    p99: float
    endpoints: list[dict]
    label: str = ""

    @property
    def read_p99(self) -> float:
        """p99 of the reads, weighted by count (locust gives percentiles per endpoint)."""
        reads = [e for e in self.endpoints if e["method"] in READS and e["count"]]
        total = sum(e["count"] for e in reads)
        return sum(e["p99"] * e["count"] for e in reads) / total if total else float("nan")


def kith(*args: str, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([*KITH, *args], env=env, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise SystemExit(f"kith {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return done


def prepare(env: dict, size: str, tenants: int, out: Path) -> Path:
    """Seed what is missing, put the load tenants on the load-test plan; the token file (one per tenant)."""
    kith("migrate", env=env)
    names = ["large" if size == "large" else f"load-{size}"] + [f"load{i}" for i in range(1, tenants)]
    for index, name in enumerate(names):
        seeded = kith("seed", "--tenant", name, "--size", size if index == 0 else "small", env=env, check=False)
        if seeded.returncode != 0 and "already has contacts" not in seeded.stderr:
            raise SystemExit(f"seeding {name} failed: {seeded.stderr.strip()[-500:]}")
    if kith("plan", "create", PLAN, *PLAN_LIMITS, env=env, check=False).returncode != 0:
        kith("plan", "set", PLAN, *PLAN_LIMITS, env=env)
    tokens = out / "tokens.txt"
    lines = []
    for name in names:
        kith("tenant", "set-plan", name, PLAN, env=env)
        lines.append(
            f"{name}\t{kith('token', 'create', '--tenant', name, '--name', 'loadtest', env=env).stdout.strip()}"
        )
    tokens.write_text("\n".join(lines) + "\n")
    tokens.chmod(0o600)
    return tokens


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_servers(env: dict, processes: int, out: Path) -> tuple[list[subprocess.Popen], str]:
    port = free_port()
    log = open(out / "servers.log", "w")  # noqa: SIM115 - open for the servers' lifetime
    started = [
        subprocess.Popen(
            [*KITH, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(processes)],
            env=env,
            stdout=log,
            stderr=log,
        )
    ]
    if env.get("REDIS_URL"):
        for queue in ("sync", "compute"):
            started.append(subprocess.Popen([*KITH, "worker", "--queue", queue], env=env, stdout=log, stderr=log))
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                return started, base
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    stop(started)
    raise SystemExit(f"kith serve did not become ready (see {out / 'servers.log'})")


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def run_step(base: str, tokens: Path, users: int, seconds: int, out: Path, label: str, mix: str | None) -> Step:
    prefix = out / label
    env = {**os.environ, "KITH_TOKENS_FILE": str(tokens)}
    if mix is not None:
        env["KITH_MIX"] = mix
    subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(HERE / "locustfile.py"),
            "--host",
            base,
            "--headless",
            "--only-summary",
            "-u",
            str(users),
            "-r",
            str(max(1, users // 2)),
            "-t",
            f"{seconds}s",
            "--stop-timeout",
            "10",
            "--csv",
            str(prefix),
            "--html",
            f"{prefix}.html",
            "--exit-code-on-error",
            "0",
        ],
        env=env,
        cwd=HERE,
        stdout=open(f"{prefix}.log", "w"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
        timeout=seconds + 120,
        check=False,
    )
    return read_stats(Path(f"{prefix}_stats.csv"), users, label)


def read_stats(path: Path, users: int, label: str) -> Step:
    rows = list(csv.DictReader(path.open()))
    total = next(r for r in rows if r["Name"] == "Aggregated")
    endpoints = [
        {
            "method": r["Type"],
            "name": r["Name"],
            "count": int(r["Request Count"]),
            "failures": int(r["Failure Count"]),
            "rps": float(r["Requests/s"]),
            "p50": float(r["50%"] or 0),
            "p95": float(r["95%"] or 0),
            "p99": float(r["99%"] or 0),
        }
        for r in rows
        if r["Name"] != "Aggregated"
    ]
    return Step(
        users=users,
        requests_per_s=float(total["Requests/s"]),
        failures=int(total["Failure Count"]),
        requests=int(total["Request Count"]),
        p50=float(total["50%"] or 0),
        p95=float(total["95%"] or 0),
        p99=float(total["99%"] or 0),
        endpoints=endpoints,
        label=label,
    )


def summary(steps: list[Step], knee: Step | None, idle: Step | None, args: argparse.Namespace, command: str) -> str:
    lines = [
        f"# Kith load test, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"`{command}`: {args.processes} API process(es){', one worker per queue' if os.environ.get('REDIS_URL') else ', jobs in-process'}; "
        f"{os.cpu_count()} CPUs; plan `{PLAN}` (limits lifted); each step {args.step_seconds} s; the knee is the last "
        f"step with p99 ≤ {args.p99_ms:.0f} ms and no failure (any answer but 2xx/304).",
        "",
        "| users | requests/s | p50 ms | p95 ms | p99 ms | requests | failures |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {s.users} | {s.requests_per_s:,.1f} | {s.p50:.0f} | {s.p95:.0f} | {s.p99:.0f} | {s.requests:,} | {s.failures} |"
        for s in steps
    ]
    if knee is None:
        lines += ["", "No step passed: the first step already exceeded the p99 target or failed."]
        return "\n".join(lines) + "\n"
    lines += [
        "",
        f"**Knee: {knee.users} users, {knee.requests_per_s:,.1f} requests/s sustained**, p99 {knee.p99:.0f} ms, "
        f"{knee.failures} failures.",
        "",
        "Per endpoint at the knee:",
        "",
        "| endpoint | requests | req/s | p50 ms | p95 ms | p99 ms | failures |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {e['method']} {e['name']} | {e['count']:,} | {e['rps']:,.1f} | {e['p50']:.0f} | {e['p95']:.0f} | "
        f"{e['p99']:.0f} | {e['failures']} |"
        for e in sorted(knee.endpoints, key=lambda e: -e["count"])
    ]
    if idle is not None:
        lines += [
            "",
            f"Read p99 at {knee.users} users: {knee.read_p99:.0f} ms while imports run (the mix), "
            f"{idle.read_p99:.0f} ms without sync writers ({idle.requests_per_s:,.1f} requests/s, {idle.failures} failures).",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=2, help="API processes (kith serve --workers)")
    parser.add_argument("--size", choices=["tiny", "small", "medium", "large"], default="large")
    parser.add_argument("--tenants", type=int, default=5, help="load tenants: the big one and N-1 small ones")
    parser.add_argument("--steps", default="8,16,32,64,128", help="users per step")
    parser.add_argument("--step-seconds", type=int, default=30)
    parser.add_argument("--p99-ms", type=float, default=100.0)
    parser.add_argument("--out", type=Path, default=None, help="default: loadtests/results/<time>")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        raise SystemExit("set DATABASE_URL to a scratch database (the load test seeds and writes to it)")
    out = args.out or HERE / "results" / dt.datetime.now(dt.UTC).strftime("load-%Y%m%dT%H%M%SZ")
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "KITH_RATE_LIMIT_PER_ADDRESS": "1000000000", "KITH_DATA_DIR": str(out / "data")}
    command = "uv run python loadtests/loadtest.py " + " ".join(sys.argv[1:])

    print(f"preparing the data and the plan (results in {out})", flush=True)
    tokens = prepare(env, args.size, args.tenants, out)
    servers, base = start_servers(env, args.processes, out)
    steps: list[Step] = []
    knee = idle = None
    try:
        for users in (int(u) for u in args.steps.split(",")):
            step = run_step(base, tokens, users, args.step_seconds, out, f"step-{users:04d}", None)
            steps.append(step)
            print(
                f"{users:>5} users: {step.requests_per_s:8,.1f} req/s, p50 {step.p50:.0f} ms, p99 {step.p99:.0f} ms, "
                f"{step.failures} failures",
                flush=True,
            )
            if step.failures or step.p99 > args.p99_ms:
                break
            knee = step
        if knee is not None:
            idle = run_step(base, tokens, knee.users, args.step_seconds, out, "knee-reads-only", "sync=0")
    finally:
        stop(servers)
    report = summary(steps, knee, idle, args, command)
    (out / "summary.md").write_text(report)
    print("\n" + report + f"\nwritten to {out}")


if __name__ == "__main__":
    main()
