"""Chroma's row order, reproduced in Qdrant through a ``seq`` payload field.

Chroma's ``get`` returns rows (and applies ``limit``/``offset``) in insertion order
(observed on chromadb 1.5.9, pinned in tests/reads/test_chroma_order_server.py):

- a new id goes to the end; ``update``/``upsert`` of an existing id keeps its place;
- ``add`` of an existing id is ignored (keeps its place);
- a deleted then re-added id goes to the end.

Qdrant scrolls by point id (a uuid5 hash), so every point carries ``seq``, an integer
that increases in Chroma's order. Writers MUST follow these rules:

1. Backfill (copying Chroma's rows in its ``get`` order, paged by offset): the row at
   position ``p`` of that stream gets :func:`backfill_seq` ``(p)``, OVERWRITING any seq
   the point already has.
2. The journal applier, for each record it upserts (a full row image): if the point
   already exists in Qdrant, keep its ``seq``; otherwise ``seq`` =
   :func:`journal_seq` ``(entry_position, index_in_entry)``. :func:`assign_seqs` does it
   given the existing seqs (one ``retrieve`` of the batch's point ids,
   ``with_payload=[SEQ_FIELD]``).
3. Deletes remove the point (and its seq); a later re-add gets a new, larger seq.
4. Create an integer payload index on ``seq`` (Qdrant's ``order_by`` needs it on a
   server; local mode does not).

Rows copied by backfill always sort before rows first written by the journal, which is
right: the journal's new rows are newer than anything the backfill stream held at the
time it read them, and a row both copied and journaled keeps one consistent place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

SEQ_FIELD = "seq"
JOURNAL_BASE = 1 << 40  # above any backfill position (Chroma collections hold << 2**40 rows)
ENTRY_STRIDE = 1 << 16  # above Chroma's max batch size (5461): room for every index


def backfill_seq(position: int) -> int:
    """The seq of the row at ``position`` (0-based) of the backfill stream."""
    if not 0 <= position < JOURNAL_BASE:
        raise ValueError(f"backfill position out of range: {position}")
    return position


def journal_seq(entry_position: int, index_in_entry: int) -> int:
    """The seq of a row first created by journal entry ``entry_position``."""
    if entry_position < 0 or not 0 <= index_in_entry < ENTRY_STRIDE:
        raise ValueError(f"bad journal position: {entry_position}/{index_in_entry}")
    return JOURNAL_BASE + entry_position * ENTRY_STRIDE + index_in_entry


def assign_seqs(
    ids: Sequence[str], existing: Mapping[str, int], entry_position: int
) -> dict[str, int]:
    """Seqs for a journal entry's rows: existing points keep theirs, new ones get fresh ones."""
    return {
        chroma_id: existing[chroma_id]
        if chroma_id in existing
        else journal_seq(entry_position, index)
        for index, chroma_id in enumerate(ids)
    }


def seq_of(payload: Mapping[str, Any] | None) -> int | None:
    """The seq stored in a point's payload, or None when the writer stored none."""
    value = (payload or {}).get(SEQ_FIELD)
    return value if isinstance(value, int) else None
