"""A real PostgreSQL server for tests: Debian's PostgreSQL 15, started in a temp directory.

PostgreSQL refuses to run as root, so when the tests run as root the server runs as the
``postgres`` user (``runuser``) on a directory that user owns. ``stop()`` / ``start()``
let a test take the database away under load and bring it back on the same port.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import uuid
from pathlib import Path
from types import TracebackType

BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin")


def _bin(name: str) -> str:
    for folder in BIN_DIRS:
        candidate = Path(folder) / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"PostgreSQL's {name} not found (apt-get install postgresql)")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """``with PostgresServer(tmp) as pg: pg.create_database()`` -> a DSN."""

    def __init__(self, base: Path, port: int | None = None) -> None:
        self.base = base
        self.data = base / "pgdata"
        self.port = port or _free_port()
        self._as_root = os.geteuid() == 0

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        command = ["runuser", "-u", "postgres", "--", *argv] if self._as_root else list(argv)
        return subprocess.run(command, capture_output=True, text=True, check=True, timeout=60)

    def init(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            shutil.chown(self.base, "postgres", "postgres")
            os.chmod(self.base, 0o755)
            parent = self.base
            while parent != parent.parent:  # the postgres user must reach its directory
                parent = parent.parent
                os.chmod(parent, os.stat(parent).st_mode | 0o011)
        self._run(_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--no-sync")  # fmt: skip

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 "
                   "-c fsync=on -c max_connections=300")  # fmt: skip
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-w", "-t", "60",
                  "-l", str(self.base / "server.log"), "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its DSN."""
        name = "t_" + uuid.uuid4().hex[:12]
        self._run(_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                  name)  # fmt: skip
        return self.dsn(name)

    def __enter__(self) -> PostgresServer:
        self.init()
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # stopped by the test
            self.stop("immediate")
