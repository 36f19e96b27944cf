"""Kith's cursor page over HTTP vs the floor: the same JSON from memory, both on one uvicorn worker.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/kith_bench \\
        uv run python loadtests/bench_http.py --tenant large [--seconds 10] [--concurrency 16]

Both servers listen on 127.0.0.1 only and are stopped at the end. The client
walks pages 1–20 of the listing by cursor (Kith) or fetches the fixed page
(floor), with the same number of concurrent connections, for a fixed time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from figures import record

HERE = Path(__file__).resolve().parent


async def wait_until_up(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(url)).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit(f"server at {url} did not come up")


async def page_paths(base: str, headers: dict, pages: int = 20) -> list[str]:
    """The paths of pages 1..N of the listing, following next_cursor."""
    paths, cursor = [], None
    async with httpx.AsyncClient(base_url=base, headers=headers) as client:
        for _ in range(pages):
            params = {"limit": 50, **({"cursor": cursor} if cursor else {})}
            response = await client.get("/api/v1/contacts", params=params)
            paths.append(str(response.request.url.raw_path, "ascii"))
            cursor = response.json()["next_cursor"]
            if not cursor:
                break
    return paths


def wrk_load(base: str, headers: dict, paths: list[str], seconds: float, concurrency: int) -> tuple[float, str]:
    """requests/s from wrk cycling through `paths` (a C client: it does not compete for the CPU like httpx)."""
    lua = (
        "paths = {"
        + ", ".join(f'"{p}"' for p in paths)
        + "}\n"
        + "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items())
        + ('i = 0\nrequest = function()\n  i = i % #paths + 1\n  return wrk.format("GET", paths[i])\nend\n')
    )
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(lua)
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{concurrency}", f"-d{int(seconds)}s", "-s", str(script), base],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        script.unlink()
    rps = float(next(line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec")))
    errors = next((line.strip() for line in out.splitlines() if "Non-2xx" in line), "0")
    return rps, errors


async def load(base: str, headers: dict, seconds: float, concurrency: int, walk: bool) -> tuple[int, int]:
    done = errors = 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal done, errors
            cursor = None
            depth = 0
            while time.monotonic() < deadline:
                params = {"limit": 50, **({"cursor": cursor} if cursor else {})}
                response = await client.get("/api/v1/contacts", params=params)
                if response.status_code != 200:
                    errors += 1
                done += 1
                if walk:
                    depth += 1
                    cursor = response.json()["next_cursor"] if depth < 20 else None
                    depth = depth if cursor else 0

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done, errors


def start(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenant", default="large")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        raise SystemExit("set DATABASE_URL to the database holding the tenant")

    token = subprocess.run(
        [sys.executable, "-m", "kith", "token", "create", "--tenant", args.tenant],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    headers = {"Authorization": f"Bearer {token}"}
    env = {**os.environ}
    kith = start([sys.executable, "-m", "kith", "serve", "--port", "8731"], env)
    body_file = Path(tempfile.mkstemp(suffix=".json")[1])
    floor = None
    try:
        await wait_until_up("http://127.0.0.1:8731/health")
        async with httpx.AsyncClient() as client:
            page = await client.get("http://127.0.0.1:8731/api/v1/contacts", params={"limit": 50}, headers=headers)
        body_file.write_bytes(page.content)
        floor = start(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "floor_app:app",
                "--port",
                "8732",
                "--log-level",
                "warning",
                "--no-access-log",
                "--app-dir",
                str(HERE),
            ],
            {**env, "FLOOR_BODY_FILE": str(body_file)},
        )
        await wait_until_up("http://127.0.0.1:8732/api/v1/contacts")

        if shutil.which("wrk"):
            client = "wrk"
            paths = await page_paths("http://127.0.0.1:8731", headers)
            kith_rps, kith_errors = wrk_load("http://127.0.0.1:8731", headers, paths, args.seconds, args.concurrency)
            floor_rps, floor_errors = wrk_load(
                "http://127.0.0.1:8732", headers, paths[:1], args.seconds, args.concurrency
            )
        else:
            client = "httpx (install wrk for figures the client does not distort)"
            kith_done, kith_errors = await load(
                "http://127.0.0.1:8731", headers, args.seconds, args.concurrency, walk=True
            )
            floor_done, floor_errors = await load(
                "http://127.0.0.1:8732", headers, args.seconds, args.concurrency, walk=False
            )
            kith_rps, floor_rps = kith_done / args.seconds, floor_done / args.seconds
    finally:
        for process in (kith, floor):
            if process:
                process.terminate()
                process.wait(10)
        body_file.unlink(missing_ok=True)
    print(
        f"page of 50 contacts ({len(page.content):,} bytes), {args.concurrency} connections, {args.seconds:.0f} s each, "
        f"one uvicorn worker each; client: {client}"
    )
    print(f"Kith cursor walk (pages 1–20): {kith_rps:8.0f} req/s  ({kith_errors} errors)")
    print(f"floor (same JSON from memory): {floor_rps:8.0f} req/s  ({floor_errors} errors)")
    print(f"Kith / floor: {kith_rps / floor_rps:.0%} (target ≥ 50%)")
    record("http.kith_walk", rps=kith_rps, errors=str(kith_errors))
    record("http.floor", rps=floor_rps, errors=str(floor_errors))


if __name__ == "__main__":
    asyncio.run(main())
