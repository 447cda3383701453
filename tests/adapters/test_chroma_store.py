"""ChromaStore specifics on a real Chroma server: scroll under deletes, cursors, errors."""

from __future__ import annotations

import random

import numpy as np
import pytest

from adapters.base import (
    CollectionKey,
    CollectionSpec,
    Record,
    Space,
    StoreRejected,
    StoreUnavailable,
)
from adapters.chroma import ChromaStore
from adapters.chroma_cursor import Cursor, locate
from proxy.migration.backfill import resolve_collections
from proxy.upstream.embedded_chroma import EmbeddedChroma, free_port

DIM = 4


def records(count: int) -> list[Record]:
    rng = np.random.default_rng(5)
    return [Record(f"id{i:05d}", rng.standard_normal(DIM).astype(np.float32), {"i": i})
            for i in range(count)]


async def scroll_while_deleting(
    store: ChromaStore, key: CollectionKey, seen_to_delete: int, wipe_tail_every: int
) -> tuple[list[str], set[str]]:
    """Scroll in pages of 50; between pages delete already-seen records (before the cursor),
    and every ``wipe_tail_every`` pages the whole tail of the last page (all recent anchors),
    plus a few not yet seen. Returns the ids seen, in order, and the ids deleted."""
    rnd = random.Random(7)
    seen: list[str] = []
    deleted: set[str] = set()
    cursor: str | None = None
    pages = 0
    while True:
        page = await store.scroll(key, cursor, 50)
        seen.extend(r.id for r in page.records)
        pages += 1
        if page.next_cursor is None:
            return seen, deleted
        cursor = page.next_cursor
        alive_seen = [i for i in dict.fromkeys(seen) if i not in deleted]
        doomed = set(rnd.sample(alive_seen, min(seen_to_delete, len(alive_seen))))
        if wipe_tail_every and pages % wipe_tail_every == 0:
            doomed.update(r.id for r in page.records[-12:])
        everything = [f"id{i:05d}" for i in range(1000)]
        unseen = [i for i in everything if i not in set(seen) and i not in deleted]
        doomed.update(rnd.sample(unseen, min(3, len(unseen))))
        await store.delete(key, sorted(doomed))
        deleted |= doomed


@pytest.mark.parametrize("wipe_tail_every", [0, 3, 1])
async def test_scroll_skips_no_survivor_under_deletes(
    chroma_server: EmbeddedChroma, unique_name: str, wipe_tail_every: int
) -> None:
    store = ChromaStore(chroma_server.url)
    key = CollectionKey(name=unique_name)
    try:
        await store.upsert(CollectionSpec(key=key, space=Space.L2), records(1000))
        seen, deleted = await scroll_while_deleting(store, key, 20, wipe_tail_every)
        survivors = {f"id{i:05d}" for i in range(1000)} - deleted
        assert survivors <= set(seen), sorted(survivors - set(seen))[:10]
        assert await store.count(key) == len(survivors)
        if wipe_tail_every == 0:  # anchors always survive: nothing is repeated
            assert len(seen) == len(set(seen))
    finally:
        await store.delete_collection(key)
        await store.close()


async def test_anchor_and_restart_paths(chroma_server: EmbeddedChroma, unique_name: str) -> None:
    """After deletes before the cursor, anchors resume at the right record; without a
    surviving anchor the scroll restarts rather than skip (a bare offset would skip 30)."""
    store = ChromaStore(chroma_server.url)
    key = CollectionKey(name=unique_name)
    try:
        await store.upsert(CollectionSpec(key=key), records(300))
        first = await store.scroll(key, None, 100)
        await store.delete(key, [r.id for r in first.records[:30]])
        naive = Cursor(offset=100, anchors=()).encode()  # no anchors: restart from 0
        assert first.next_cursor is not None
        anchored = await store.scroll(key, first.next_cursor, 100)
        assert anchored.records[0].id == "id00100"
        assert (await store.scroll(key, naive, 100)).records[0].id == "id00030"
        skipped = await store.scroll(key, Cursor(offset=100, anchors=("gone",)).encode(), 100)
        assert skipped.records[0].id == "id00030"  # unknown anchors: restart, never skip
    finally:
        await store.delete_collection(key)
        await store.close()


def test_cursor_round_trip_and_anchor_choice() -> None:
    ids = [f"x{i}" for i in range(100)]
    cursor = Cursor.after(100, ids)
    assert Cursor.decode(cursor.encode()) == cursor
    assert cursor.anchors[-6:] == tuple(ids[-6:])
    assert {"x93", "x87", "x75", "x51", "x3"} <= set(cursor.anchors)
    assert len(cursor.anchors) == 11
    window = ["x10", "x51", "x60", "x75", "x99"]
    assert locate(window, cursor.anchors, 4) == 4
    assert locate(window, cursor.anchors, 3) == 3  # beyond the limit: not trusted
    assert locate(["y"], cursor.anchors, 0) is None
    with pytest.raises(StoreRejected):
        Cursor.decode("not a cursor")


async def test_errors_are_translated(chroma_server: EmbeddedChroma, unique_name: str) -> None:
    down = ChromaStore(f"http://127.0.0.1:{free_port()}", timeout=5.0)
    try:
        with pytest.raises(StoreUnavailable):
            await down.count(CollectionKey(name=unique_name))
        assert not await down.health()
    finally:
        await down.close()
    store = ChromaStore(chroma_server.url)
    key = CollectionKey(name=unique_name)
    try:
        assert await store.health()
        with pytest.raises(StoreRejected, match="dimension"):
            await store.upsert(CollectionSpec(key=key), [*records(2),
                                                         Record("z", np.ones(DIM + 2, np.float32))])
        with pytest.raises(StoreRejected, match="name"):
            await store.create_collection(CollectionSpec(key=CollectionKey(name="!")))
    finally:
        await store.delete_collection(key)
        await store.close()


async def test_other_tenant_and_database(chroma_server: EmbeddedChroma, unique_name: str) -> None:
    key = CollectionKey(name=unique_name, tenant="t-" + unique_name, database="db1")
    store = ChromaStore(chroma_server.url, scopes=[(key.tenant, key.database)])
    try:
        await store.upsert(CollectionSpec(key=key, space=Space.IP), records(3))
        assert [s.key for s in await store.list_collections()] == [key]
        described = await store.describe_collection(key)
        assert described is not None and described.space is Space.IP
        assert described.source_id is not None and described.dimension == DIM
    finally:
        await store.delete_collection(key)
        await store.close()


async def test_every_database_of_the_default_tenant_is_listed(
    chroma_server: EmbeddedChroma, unique_name: str
) -> None:
    """Without explicit scopes the store finds collections outside default_database (a
    backfill or validate that only looked there would leave them behind, silently)."""
    other = CollectionKey(name="docs-" + unique_name, database="db-" + unique_name)
    same_name = CollectionKey(name=other.name)  # a namesake in the default database
    store = ChromaStore(chroma_server.url)
    try:
        await store.upsert(CollectionSpec(key=other), records(3))
        await store.upsert(CollectionSpec(key=same_name), records(2))
        keys = [s.key for s in await store.list_collections()]
        assert other in keys and same_name in keys
        # A bare name means the default database's collection; the full form the other.
        by_bare = await resolve_collections(store, [other.name])
        by_full = await resolve_collections(store, [str(other)])
        assert [s.key for s in by_bare] == [same_name]
        assert [s.key for s in by_full] == [other]
        assert await store.count(other) == 3
    finally:
        for key in (other, same_name):
            await store.delete_collection(key)
        await store.close()
