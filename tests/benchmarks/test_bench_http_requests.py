"""bench_http's wrk scripts send the requests they list: paths and headers, an ETag's quotes included.

An ETag written bare into the Lua script made it a syntax error; wrk says so on stderr and goes on
without the script, sending `GET /` with no headers, so the "304" scenario measured another page."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "loadtests"))  # bench_http imports its siblings as top-level modules

import bench_http  # noqa: E402


async def test_the_wrk_script_sends_each_listed_request_with_its_headers() -> None:
    assert shutil.which("wrk"), "bench_http needs wrk (apt-get install wrk)"
    seen: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                seen.append(head)
                writer.write(b"HTTP/1.1 304 Not Modified\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    requests = [
        ("/api/v1/contacts?limit=50", {"If-None-Match": '"85c0ad64d917e9063283c60f517889d7"'}),
        ("/api/v1/contacts?limit=50&cursor=kwGh.Ee", {"If-None-Match": 'W/"2bce\\b9"'}),
    ]
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(bench_http.lua_script(requests, {"Authorization": "Bearer kith_x"}))
    try:
        async with server:
            done = await asyncio.to_thread(
                subprocess.run,
                ["wrk", "-t1", "-c1", "-d1s", "-s", str(script), f"http://127.0.0.1:{port}"],
                capture_output=True,
                text=True,
            )
    finally:
        script.unlink()
    assert str(script) not in done.stderr, done.stderr
    listed = {f"GET {path} HTTP/1.1": extra for path, extra in requests}
    sent = [head.decode().split("\r\n") for head in seen]
    assert {lines[0] for lines in sent} == set(listed)  # each listed request, and nothing else (no `GET /`)
    for lines in sent:
        assert f"If-None-Match: {listed[lines[0]]['If-None-Match']}" in lines
        assert "Authorization: Bearer kith_x" in lines
