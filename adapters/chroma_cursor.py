"""Scroll cursors for Chroma that survive deletes made between pages.

Chroma pages ``get`` by limit/offset in insertion order. When records before the
offset are deleted between two pages, everything after them moves left and a bare
offset skips live records. A cursor therefore carries the offset AND ids of records
already returned (anchors: the last few, plus a sparse few further back). The next
page looks for the latest surviving anchor near the offset and continues right after
it; records only move left, so an anchor still in place sits at or before
``offset - 1``.
When no anchor survives anywhere before the offset, the scroll restarts from the
beginning: it may repeat records then, but it never skips one. (A record deleted and
re-added moves to the end; should that end lie before the offset, an anchor found
there would be trusted wrongly: an accepted gap for a rare case.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import orjson
import pybase64

from adapters.base import Page, Record, StoreRejected

ANCHORS = 6
# Window fetches tried around a relocated anchor before the scroll restarts.
RELOCATE_ATTEMPTS = 8

# fetch(offset, limit, full): records in insertion order; ids only unless ``full``
Fetch = Callable[[int, int, bool], Awaitable[list[Record]]]


@dataclass(frozen=True)
class Cursor:
    """Absolute offset of the next record, and the ids just before it (oldest first)."""

    offset: int
    anchors: tuple[str, ...]

    def encode(self) -> str:
        raw = orjson.dumps({"o": self.offset, "a": list(self.anchors)})
        return str(pybase64.urlsafe_b64encode(raw).decode("ascii"))

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            data = orjson.loads(pybase64.urlsafe_b64decode(text.encode("ascii")))
            return cls(offset=int(data["o"]), anchors=tuple(str(a) for a in data["a"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreRejected(f"not a chroma scroll cursor: {text!r}") from exc

    @classmethod
    def after(cls, offset: int, ids: Sequence[str]) -> Cursor:
        """The cursor of a page that ends just before absolute ``offset`` with ``ids``.

        Anchors: the last ``ANCHORS`` ids, then ids ever further back (8, 16, 32, ...
        before the end), so that even when a whole run of recent records is deleted some
        anchor survives and at most a part of the page is repeated.
        """
        last = len(ids) - 1
        picks = set(range(max(0, last - ANCHORS + 1), last + 1))
        step = ANCHORS
        while last - step >= 0:
            picks.add(last - step)
            step *= 2
        return cls(offset=offset, anchors=tuple(ids[i] for i in sorted(picks)))


def locate(window: Sequence[str], anchors: Sequence[str], limit_index: int) -> int | None:
    """Index in ``window`` of the latest anchor found at or before ``limit_index``, or None.

    Anchors found beyond ``limit_index`` cannot be in place (records only move left),
    so they are ignored rather than trusted.
    """
    positions = {rid: i for i, rid in enumerate(window[: limit_index + 1])}
    for anchor in reversed(anchors):
        if anchor in positions:
            return positions[anchor]
    return None


async def scroll_page(fetch: Fetch, cursor: str | None, limit: int) -> Page:
    """The page after ``cursor`` (None: the first page), resuming after a surviving anchor.

    The page is always cut from ONE fetched window that contains the anchor, so deletes
    landing between two requests cannot shift records past it unseen. When the anchor
    has moved out of the window, it is searched for further back and the window is
    fetched again around where it was found (it may have moved on again meanwhile).
    """
    if cursor is None:
        return _finish(0, await fetch(0, limit, True), limit)
    at = Cursor.decode(cursor)
    for _ in range(RELOCATE_ATTEMPTS):
        first = max(0, at.offset - 2 * ANCHORS)
        wanted = at.offset - first + limit
        window = await fetch(first, wanted, True)
        index = locate([r.id for r in window], at.anchors, at.offset - first - 1)
        if index is not None:
            return _finish(first + index + 1, window[index + 1 :], limit, len(window) == wanted)
        found = await _find_anchor(fetch, at, first)
        if found < 0:
            break
        at = Cursor(offset=found + 1, anchors=at.anchors)
    # No anchor survives (or deletes kept outrunning the search): restart, repeating
    # records rather than skipping any.
    return _finish(0, await fetch(0, limit, True), limit)


async def _find_anchor(fetch: Fetch, at: Cursor, searched_from: int) -> int:
    """Absolute position of the latest surviving anchor before ``searched_from``, or -1."""
    high, step = searched_from, 4 * ANCHORS
    while high > 0:
        low = max(0, high - step)
        ids = [r.id for r in await fetch(low, high - low, False)]
        index = locate(ids, at.anchors, len(ids) - 1)
        if index is not None:
            return low + index
        high, step = low, step * 2
    return -1  # no anchor survives: restart, repeating rather than skipping


def _finish(start: int, rows: list[Record], limit: int, more: bool | None = None) -> Page:
    """Page of ``rows[:limit]`` starting at absolute ``start``; ``more``: rows went on."""
    page = rows[:limit]
    has_more = len(rows) >= limit if more is None else (more or len(rows) > limit)
    if not page or not has_more:
        return Page(records=page, next_cursor=None)
    return Page(records=page,
                next_cursor=Cursor.after(start + len(page), [r.id for r in page]).encode())
