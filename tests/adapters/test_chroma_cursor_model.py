"""The Chroma scroll cursor against a model of Chroma's paging under concurrent deletes.

Chroma pages ``get`` by limit/offset in insertion order; a delete moves every later
record one place left, an add lands at the end. The model is exactly that list, and a
writer deletes (single records and large where-like runs) and appends between ANY two
requests the scroll makes: the timing a live backfill meets under heavy writes, which a
real server only produces by chance. The property: a record present from the start to
the end of the scroll is returned at least once.
"""

from __future__ import annotations

import random

import pytest

from adapters.base import Record
from adapters.chroma_cursor import scroll_page


class ChangingCollection:
    """Insertion-ordered ids; every fetch first lets a concurrent writer change them."""

    def __init__(self, size: int, seed: int) -> None:
        self.ids = [f"r{i}" for i in range(size)]
        self.deleted: set[str] = set()
        self._rng = random.Random(seed)
        self._next = size

    def _write(self) -> None:
        rng = self._rng
        if not self.ids:
            return
        if rng.random() < 0.3:  # a delete by where: every 3rd record of a long stretch
            start = rng.randrange(len(self.ids))
            doomed = set(self.ids[start : start + rng.randint(30, 400) : 3])
        else:
            doomed = {rng.choice(self.ids) for _ in range(rng.randint(0, 6))}
        self.deleted |= doomed
        self.ids = [rid for rid in self.ids if rid not in doomed]
        for _ in range(rng.randint(0, 3)):
            self.ids.append(f"n{self._next}")
            self._next += 1

    async def fetch(self, offset: int, count: int, full: bool) -> list[Record]:
        self._write()
        return [Record(id=rid) for rid in self.ids[offset : offset + count]]


async def _scroll_all(collection: ChangingCollection, limit: int) -> list[str]:
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10_000):
        page = await scroll_page(collection.fetch, cursor, limit)
        seen.extend(r.id for r in page.records)
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor
    raise AssertionError("the scroll never ended")


@pytest.mark.parametrize("seed", range(40))
async def test_no_surviving_record_is_skipped(seed: int) -> None:
    collection = ChangingCollection(3_000, seed)
    original = list(collection.ids)
    seen = set(await _scroll_all(collection, limit=50))
    survivors = [rid for rid in original if rid not in collection.deleted]
    skipped = [rid for rid in survivors if rid not in seen]
    assert len(survivors) > 500  # the writer left enough to page through
    assert not skipped, f"{len(skipped)} surviving records never returned: {skipped[:5]}"


async def test_a_still_collection_is_paged_once_in_order() -> None:
    still = ChangingCollection(1_234, seed=0)
    still._write = lambda: None  # type: ignore[method-assign]  # no concurrent writer
    assert await _scroll_all(still, limit=100) == [f"r{i}" for i in range(1_234)]
