"""Versioned schemas on a real PostgreSQL: applied once, in order, never downgraded."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from proxy.cluster.postgres import SchemaTooNew, migrate, open_pool

V1 = "CREATE TABLE demo (id integer PRIMARY KEY)"
V2 = "ALTER TABLE demo ADD COLUMN note text"


async def test_migrations_apply_once_in_order(postgres_dsn: str) -> None:
    pool = await open_pool(postgres_dsn, 4)
    try:
        # Replicas starting together: the advisory lock lets each script run once.
        versions = await asyncio.gather(*(migrate(pool, "demo", [V1, V2]) for _ in range(4)))
        assert versions == [2, 2, 2, 2]
        await pool.execute("INSERT INTO demo (id, note) VALUES (1, 'x')")
        assert await migrate(pool, "demo", [V1, V2]) == 2  # nothing left to apply
        assert await pool.fetchval("SELECT note FROM demo WHERE id = 1") == "x"
    finally:
        await pool.close()


async def test_a_newer_schema_is_refused(postgres_dsn: str) -> None:
    pool = await open_pool(postgres_dsn, 2)
    try:
        await migrate(pool, "demo", [V1, V2])
        with pytest.raises(SchemaTooNew, match="version 2"):
            await migrate(pool, "demo", [V1])
    finally:
        await pool.close()


async def test_a_failing_script_leaves_the_version_unchanged(postgres_dsn: str) -> None:
    pool = await open_pool(postgres_dsn, 2)
    try:
        await migrate(pool, "demo", [V1])
        with pytest.raises(asyncpg.PostgresError):
            await migrate(pool, "demo", [V1, "ALTER TABLE missing ADD COLUMN x int"])
        assert await pool.fetchval(
            "SELECT version FROM vecbridge_schema WHERE component = 'demo'") == 1
    finally:
        await pool.close()
