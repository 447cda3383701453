"""``vecbridge serve`` refuses ports that are already taken, with one line and exit 1.

The shipped config is served from a scratch directory with ports moved by the documented
environment overrides, as a second proxy would be started next to a first one.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import REPO

from proxy.upstream.embedded_chroma import EmbeddedChroma, PortInUse, free_port


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port a plain socket listens on (not a Chroma, not a vecbridge)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _serve(tmp: Path, app: int, admin: int, chroma: int) -> subprocess.CompletedProcess[str]:
    shutil.copy(REPO / "config.yaml", tmp / "config.yaml")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VECBRIDGE_")},
        "ANONYMIZED_TELEMETRY": "False",
        "PYTHONPATH": str(REPO),
        "VECBRIDGE_LISTEN__PORT": str(app),
        "VECBRIDGE_ADMIN__PORT": str(admin),
        "VECBRIDGE_SOURCE__EMBEDDED__PORT": str(chroma),
    }
    return subprocess.run(
        [sys.executable, "-m", "proxy.cli", "serve", "--config", "config.yaml"],
        cwd=tmp, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _refused(done: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit 1, one line on stderr that names the key, no traceback."""
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("vecbridge serve:")]
    assert len(lines) == 1, done.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert "Traceback" not in done.stderr, done.stderr


def _command_lines() -> Iterator[str]:
    """Every running process's command line (Linux /proc)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "cmdline").read_bytes()
            except OSError:  # gone meanwhile, or not ours to read
                continue
            yield raw.replace(b"\0", b" ").decode("utf-8", "replace")


def _nothing_left(tmp: Path, *ports: int) -> None:
    """No Chroma child of the refused proxy survives, nobody serves its ports."""
    for cmdline in _command_lines():
        assert str(tmp) not in cmdline, f"left running: {cmdline}"
    for port in ports:
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} answers"


def test_embedded_port_held_by_a_plain_listener(tmp_path: Path, held_port: int) -> None:
    app, admin = free_port(), free_port()
    done = _serve(tmp_path, app, admin, held_port)
    _refused(done, f"port {held_port}", "already in use", "source.embedded.port",
             "VECBRIDGE_SOURCE__EMBEDDED__PORT")
    _nothing_left(tmp_path, app, admin)


def test_second_proxy_does_not_adopt_another_chroma(
    tmp_path: Path, chroma_server: EmbeddedChroma
) -> None:
    """The reported case: the port belongs to a healthy Chroma that would answer the
    health check, so without the check the proxy would serve on someone else's data."""
    app, admin = free_port(), free_port()
    done = _serve(tmp_path, app, admin, chroma_server.port)
    _refused(done, f"port {chroma_server.port}", "already in use")
    _nothing_left(tmp_path, app, admin)
    assert not (tmp_path / "data" / "chroma").exists()  # no Chroma was even spawned


def test_app_port_taken(tmp_path: Path, held_port: int) -> None:
    done = _serve(tmp_path, held_port, free_port(), free_port())
    _refused(done, f"port {held_port}", "listen.port", "VECBRIDGE_LISTEN__PORT")
    _nothing_left(tmp_path)


def test_admin_port_taken(tmp_path: Path, held_port: int) -> None:
    app, chroma = free_port(), free_port()
    done = _serve(tmp_path, app, held_port, chroma)
    _refused(done, f"port {held_port}", "admin.port", "VECBRIDGE_ADMIN__PORT")
    _nothing_left(tmp_path, app, chroma)


def test_embedded_chroma_refuses_a_held_port(tmp_path: Path, held_port: int) -> None:
    chroma = EmbeddedChroma(tmp_path / "chroma", port=held_port)
    with pytest.raises(PortInUse, match=f"port {held_port} on 127.0.0.1 is already in use"):
        chroma.start(timeout=30)
    assert chroma._process is None  # nothing was spawned
    assert not (tmp_path / "chroma").exists()
