"""The PostgreSQL every replica shares: one pool per process, and versioned schemas.

Each part that keeps state in PostgreSQL (the journal, the control state, the replica
registry) owns a *component* with an ordered list of migrations (SQL scripts). On open,
:func:`migrate` applies the ones a database has not seen yet, in one transaction per
script, under an advisory lock so replicas starting together apply each script once.
Versions live in ``vecbridge_schema (component, version)``; a database newer than this
build (a rollback of the proxy's image) is refused with a clear error rather than used.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import asyncpg

log = logging.getLogger("vecbridge.cluster")

# pg_advisory_xact_lock key: "vecbridge schema" folded into a bigint.
_SCHEMA_LOCK = 0x7665_6362_7269_6467


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer vecbridge than this one."""


async def open_pool(dsn: str, size: int) -> asyncpg.Pool:
    """A connection pool; fails fast (``OSError`` / asyncpg errors) when unreachable."""
    pool = await asyncpg.create_pool(
        dsn, min_size=1, max_size=size, command_timeout=30, timeout=10
    )
    assert pool is not None
    return pool


async def migrate(pool: asyncpg.Pool, component: str, migrations: Sequence[str]) -> int:
    """Bring ``component`` to ``len(migrations)``; returns the version it is at now."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS vecbridge_schema ("
            " component text PRIMARY KEY, version integer NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        current = await conn.fetchval(
            "SELECT version FROM vecbridge_schema WHERE component = $1", component
        )
        current = int(current or 0)
        if current > len(migrations):
            raise SchemaTooNew(
                f"PostgreSQL schema of {component!r} is at version {current}, this vecbridge "
                f"knows {len(migrations)}: run the newer vecbridge or restore the database"
            )
        for version in range(current + 1, len(migrations) + 1):
            await conn.execute(migrations[version - 1])
            log.info("postgres: %s schema migrated to version %d", component, version)
        await conn.execute(
            "INSERT INTO vecbridge_schema (component, version) VALUES ($1, $2)"
            " ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version,"
            " applied_at = now()",
            component, len(migrations),
        )  # fmt: skip
        return len(migrations)
