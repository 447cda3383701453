"""Shared fixtures: real Chroma servers started from the chromadb package."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from proxy.upstream.embedded_chroma import EmbeddedChroma

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedChroma]:
    """One real Chroma server for the session; tests use unique collection names."""
    server = EmbeddedChroma(tmp_path_factory.mktemp("chroma-session") / "data")
    with server:
        yield server


@pytest.fixture
def fresh_chroma(tmp_path: Path) -> Iterator[EmbeddedChroma]:
    """A Chroma server of the test's own (for tests that need an empty store)."""
    with EmbeddedChroma(tmp_path / "chroma") as server:
        yield server


@pytest.fixture
def unique_name() -> str:
    """A collection name no other test uses."""
    return "c-" + uuid.uuid4().hex[:12]
