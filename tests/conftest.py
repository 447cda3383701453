"""Shared fixtures: real Chroma servers started from the chromadb package."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from postgres_support import PostgresServer

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


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session; tests take databases of their own."""
    with PostgresServer(tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """The DSN of a new, empty database on the session's PostgreSQL."""
    return postgres_server.create_database()


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[PostgresServer]:
    """A PostgreSQL of the test's own, for tests that stop and start it."""
    with PostgresServer(tmp_path / "pg") as server:
        yield server
