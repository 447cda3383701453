"""The embedded source: a Chroma server started from the chromadb package.

Used by ``vecbridge serve`` when the config names no source URL, and by the tests,
which need real Chroma servers. The server runs as a child process (``chroma run``)
so a crash of either side does not take the other's memory with it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType


class EmbeddedChromaError(RuntimeError):
    """The embedded Chroma server could not be started."""


class PortInUse(EmbeddedChromaError):
    """Something already listens on the embedded Chroma's address."""


def port_in_use(host: str, port: int) -> bool:
    """True when a socket already listens on ``host:port`` (binding it fails).

    SO_REUSEADDR as servers set it: a port left in TIME_WAIT by a stopped server is free,
    a port someone listens on is not.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _chroma_command() -> list[str]:
    exe = shutil.which("chroma")
    if exe is not None:
        return [exe]
    # The console script lives next to the interpreter in a venv even when PATH lacks it.
    candidate = Path(sys.executable).with_name("chroma")
    if candidate.exists():
        return [str(candidate)]
    raise EmbeddedChromaError("the `chroma` command (from the chromadb package) is not installed")


class EmbeddedChroma:
    """A ``chroma run`` child process, health-checked before use."""

    def __init__(self, path: Path, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.path = path
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.log_path = path.parent / f"{path.name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> EmbeddedChroma:
        """Spawn ``chroma run`` and wait until it answers; ``EmbeddedChromaError`` if not.

        Refuses a port someone already listens on: the child could not bind it, and the
        health check would be answered by the other server (another proxy's Chroma),
        so two proxies would silently share one source.
        """
        if port_in_use(self.host, self.port):
            raise PortInUse(
                f"embedded Chroma: port {self.port} on {self.host} is already in use (another "
                "vecbridge or Chroma?); set source.embedded.port "
                "(VECBRIDGE_SOURCE__EMBEDDED__PORT) to another port, or source.url to use a "
                "running Chroma"
            )
        self.path.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
        command = [
            *_chroma_command(),
            "run",
            "--path",
            str(self.path),
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        self._wait_healthy(timeout)
        return self

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            # An answer counts only while our child still runs: once it has exited (it
            # lost the port to someone who bound it after the check), the answer came
            # from that someone else.
            if self.healthy():
                self._check_alive()
                return
            time.sleep(0.1)
        self.stop()
        raise EmbeddedChromaError(f"chroma did not become healthy within {timeout:.0f}s")

    def _check_alive(self) -> None:
        process = self._process
        if process is not None and process.poll() is not None:
            self._process = None
            raise EmbeddedChromaError(
                f"chroma exited with code {process.returncode}; see {self.log_path}"
            )

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1.0) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout)

    def __enter__(self) -> EmbeddedChroma:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
