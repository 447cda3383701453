"""The Qdrant test stand-in (``tests/qdrant_standin.py``) as a process tests control.

::

    with QdrantStandin(tmp_path / "qdrant") as q:      # starts on a free port
        store = QdrantStore.open(url=q.url)            # the adapter's remote path
        q.pause(); q.resume()                          # SIGSTOP / SIGCONT
        q.kill(); q.start()                            # SIGKILL, relaunch: same port and data
    # leaving the block: SIGTERM, waits for a clean exit

or the ``qdrant_standin`` fixture (import it into a conftest or test module:
``from standin_support import qdrant_standin  # noqa: F401``), started, stopped after
the test. The stand-in's output goes to ``<path>.log`` (``log_tail()``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Self

import pytest

STANDIN = Path(__file__).with_name("qdrant_standin.py")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class QdrantStandin:
    """One stand-in process over ``path`` on ``host:port`` (a free port unless given)."""

    def __init__(
        self,
        path: Path | str,
        port: int | None = None,
        host: str = "127.0.0.1",
        api_key: str | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        self.path = Path(path)
        self.host = host
        self.port = port or free_port(host)
        self.api_key = api_key
        self.start_timeout = start_timeout
        self.log_path = self.path.with_name(self.path.name + ".log")
        self.process: subprocess.Popen[bytes] | None = None
        self.paused = False

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def start(self, port: int | None = None, path: Path | str | None = None) -> Self:
        """Launch (on a new ``port`` / ``path`` if given) and wait until ``/readyz`` answers."""
        if self.running:
            raise RuntimeError(f"stand-in already running (pid {self.pid})")
        if port is not None:
            self.port = port
        if path is not None:
            self.path = Path(path)
            self.log_path = self.path.with_name(self.path.name + ".log")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, str(STANDIN), "--port", str(self.port),
                   "--path", str(self.path), "--host", self.host]
        if self.api_key is not None:
            command += ["--api-key", self.api_key]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
        self.paused = False
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until the stand-in answers ``/readyz``; raise with its log if it exits."""
        timeout = self.start_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                code = None if self.process is None else self.process.returncode
                raise RuntimeError(f"stand-in exited ({code}):\n{self.log_tail()}")
            if self.ready():
                return
            time.sleep(0.05)
        raise TimeoutError(f"stand-in not ready after {timeout}s:\n{self.log_tail()}")

    def ready(self, timeout: float = 0.5) -> bool:
        """True when ``/readyz`` answers 200 within ``timeout``."""
        try:
            with urllib.request.urlopen(self.url + "/readyz", timeout=timeout) as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (SIGCONT first if paused) and wait for the exit; SIGKILL after ``timeout``."""
        if self.process is None:
            return None
        if self.running:
            self.process.send_signal(signal.SIGTERM)
            if self.paused:
                self.resume()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.paused = False
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL and reap: no clean-up runs, the data directory stays as the crash left it."""
        if self.running:
            assert self.process is not None
            self.process.kill()
            self.process.wait(10)
        self.paused = False

    def pause(self) -> None:
        """SIGSTOP: the port stays bound, connections hang (a frozen or partitioned Qdrant)."""
        os.kill(self.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        os.kill(self.pid, signal.SIGCONT)
        self.paused = False

    def restart(self, kill: bool = False) -> Self:
        """Stop (or SIGKILL) and start again on the same port and data."""
        if kill:
            self.kill()
        else:
            self.stop()
        return self.start()

    def log_tail(self, chars: int = 4000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""

    def __enter__(self) -> Self:
        return self if self.running else self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


@pytest.fixture
def qdrant_standin(tmp_path: Path) -> Iterator[QdrantStandin]:
    """A started stand-in over ``tmp_path / "qdrant"``, stopped after the test."""
    with QdrantStandin(tmp_path / "qdrant") as standin:
        yield standin
