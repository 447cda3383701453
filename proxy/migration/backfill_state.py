"""Backfill bookkeeping: the checkpoint file and the progress a run reports.

The checkpoint is one small JSON file next to the journal (``backfill.json``), keyed
by collection. It is rewritten atomically (temp file, fsync, rename) after every
batch, so a run killed at any point resumes from the last written batch: at most
one batch is copied twice, and copying is idempotent.

Per collection it keeps the journal position recorded when the copy started (the
catch-up replays from there), the Chroma scroll cursor (safe under concurrent
deletes, see ``adapters/chroma_cursor.py``), counts, and how far the catch-up got.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("vecbridge.journal")

CHECKPOINT_FILE = "backfill.json"


@dataclass
class CollectionCheckpoint:
    """Where the backfill of one collection stands, durably."""

    start_seq: int
    cursor: str | None = None
    copied: int = 0
    copy_done: bool = False
    replayed_to: int = 0
    done: bool = False
    started_at: float = field(default_factory=time.time)


class CheckpointFile:
    """The backfill checkpoints of every collection, in one JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: dict[str, CollectionCheckpoint] = {}
        if path.exists():
            raw = orjson.loads(path.read_bytes() or b"{}")
            self._entries = {k: CollectionCheckpoint(**v) for k, v in raw.items()}

    def get(self, collection: str) -> CollectionCheckpoint | None:
        return self._entries.get(collection)

    def all(self) -> dict[str, CollectionCheckpoint]:
        return dict(self._entries)

    def put(self, collection: str, checkpoint: CollectionCheckpoint) -> None:
        """Store and make durable (blocking: small file, called from a thread)."""
        self._entries[collection] = checkpoint
        data = orjson.dumps({k: asdict(v) for k, v in self._entries.items()})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)


@dataclass
class CollectionProgress:
    """What a running backfill tells status, metrics and the progress bar."""

    collection: str
    state: str = "pending"  # pending | copying | catching_up | done | failed
    total: int = 0
    copied: int = 0
    resumed_from: int = 0
    replayed_entries: int = 0
    records_per_second: float = 0.0
    error: str | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def ratio(self) -> float:
        if self.state == "done":
            return 1.0
        return min(1.0, self.copied / self.total) if self.total else 0.0

    @property
    def eta_seconds(self) -> float | None:
        if self.records_per_second <= 0 or self.state != "copying":
            return None
        return max(0.0, self.total - self.copied) / self.records_per_second

    def as_dict(self) -> dict[str, Any]:
        eta = self.eta_seconds
        return {
            "collection": self.collection, "state": self.state, "total": self.total,
            "copied": self.copied, "resumed_from": self.resumed_from,
            "replayed_entries": self.replayed_entries, "ratio": round(self.ratio, 4),
            "records_per_second": round(self.records_per_second, 1),
            "eta_seconds": None if eta is None else round(eta, 1), "error": self.error,
        }  # fmt: skip


@dataclass
class BackfillRun:
    """One backfill run over some collections."""

    collections: dict[str, CollectionProgress] = field(default_factory=dict)
    running: bool = True
    error: str | None = None
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        failed = self.error is not None or any(
            p.state == "failed" for p in self.collections.values())
        return {
            "running": self.running,
            "passed": not self.running and not failed,
            "error": self.error,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "collections": [p.as_dict() for p in self.collections.values()],
        }


@dataclass(frozen=True)
class BackfillCopied:
    """Event: a backfill wrote a batch to the target (feeds the backfill metrics)."""

    collection: str
    records: int
    ratio: float


def backfill_floor(checkpoint_file: Path) -> int | None:
    """The lowest journal position an unfinished backfill still has to replay from."""
    if checkpoint_file is None or not checkpoint_file.exists():
        return None
    try:
        checkpoints = CheckpointFile(checkpoint_file).all().values()
    except (OSError, ValueError, TypeError) as exc:
        # Unreadable: keep everything rather than guess (and say why).
        log.warning("journal pruning holds back: backfill checkpoints unreadable: %s", exc)
        return 0
    open_ones = [max(c.start_seq, c.replayed_to) for c in checkpoints if not c.done]
    return min(open_ones) if open_ones else None

