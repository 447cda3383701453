"""Building an Edge shard's HNSW index in a child process, then swapping it in.

Why not ``EdgeShard.optimize()`` on a thread: qdrant-edge-py 0.9.0 holds the GIL for the
whole call (10.7 s for 20,000 x 384 here; the event loop got no tick meanwhile), so it
would freeze the proxy from any thread. Instead, for collection ``name``:

1. copy: inside the shard's gate (its reads and writes wait), flush and copy the shard
   directory to ``tmp/optimizing-*``; from now on the ids every write touches are noted
   (``EdgePoints.dirty[name]``);
2. optimize: a child process (niced, ``indexing_threads``) loads the copy, runs
   ``optimize()`` and closes it; the store keeps serving from the original meanwhile;
3. swap: inside the gate again, read the noted ids' current points from the original,
   close it, rename it to ``tmp/replaced-<dir>``, rename the copy into place, load it,
   write the noted points again (deleting the noted ids that are gone), flush, then drop
   the original.

Crash safety: until the last step the original is complete, so :func:`recover` (run at
open) puts back a ``replaced-`` directory over whatever is in place and clears the
rest of ``tmp/``. A drop (or drop and re-create) of the collection meanwhile discards
the optimized copy.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from pathlib import Path

import qdrant_edge as qe

from adapters.qdrant_edge_points import EdgePoints, dir_name

CHILD = """\
import os, sys
os.nice(10)
import qdrant_edge
shard = qdrant_edge.EdgeShard.load(sys.argv[1])
shard.optimize()
shard.close()
"""
REPLACED = "replaced-"


def recover(points: EdgePoints) -> None:
    """Undo what a crash left half done in ``tmp/`` (call before any shard is opened)."""
    for entry in sorted(points.tmp_dir.iterdir()):
        if entry.name.startswith(REPLACED):
            _restore(entry, points.shards_dir / entry.name[len(REPLACED):])
        elif entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _restore(replaced: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    replaced.rename(target)


class Optimizer:
    """Runs the three steps above, one collection at a time (call from one thread)."""

    def __init__(self, points: EdgePoints) -> None:
        self._points = points
        self._child: subprocess.Popen[bytes] | None = None
        self._stopped = threading.Event()

    def stop(self) -> None:
        """Kill a running child (its copy is discarded); later runs do nothing."""
        self._stopped.set()
        child = self._child
        if child is not None:
            child.kill()

    def run(self, name: str) -> bool:
        """Optimize ``name``; True when an optimized shard was swapped in."""
        points = self._points
        if self._stopped.is_set() or not points.collection_exists(name):
            return False
        copy = points.scratch("optimizing")
        noted: set[str] = set()
        with points.gate(name) as shard:
            shard.flush()
            shutil.copytree(points.path(name), copy)
            points.dirty[name] = noted
        try:
            if not self._optimize(copy):
                return False
            return self._swap(name, copy, noted)
        finally:
            if points.dirty.get(name) is noted:
                del points.dirty[name]
            shutil.rmtree(copy, ignore_errors=True)

    def _optimize(self, copy: Path) -> bool:
        with subprocess.Popen(
            [sys.executable, "-c", CHILD, str(copy)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        ) as child:  # fmt: skip
            self._child = child
            if self._stopped.is_set():
                child.kill()
            _, err = child.communicate()
            self._child = None
        if child.returncode != 0 and not self._stopped.is_set():
            raise RuntimeError(f"edge optimizer failed: {err.decode(errors='replace')[-500:]}")
        return child.returncode == 0

    def _swap(self, name: str, copy: Path, noted: set[str]) -> bool:
        points = self._points
        with points.gate(name) as old:
            if points.dirty.get(name) is not noted or self._stopped.is_set():
                return False  # dropped (or re-created) meanwhile, or closing
            del points.dirty[name]
            images = old.retrieve(list(noted), True, True) if noted else []
            old.close()
            points.replace_open(name, None)
            path = points.path(name)
            replaced = points.tmp_dir / (REPLACED + dir_name(name))
            path.rename(replaced)
            try:
                copy.rename(path)
                new = qe.EdgeShard.load(str(path))
                try:
                    _reapply(new, images, noted)
                except BaseException:
                    new.close()
                    raise
            except BaseException:
                _restore(replaced, path)
                raise
            points.replace_open(name, new)
            trash = points.scratch("replaced")
            replaced.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)
        return True


def _reapply(shard: qe.EdgeShard, images: list[qe.Record], noted: set[str]) -> None:
    """Write the points written since the copy again, then make it all durable."""
    if images:
        batch = [qe.Point(str(p.id), p.vector or [], p.payload) for p in images]
        shard.update(qe.UpdateOperation.upsert_points(batch))
    gone = noted - {str(p.id) for p in images}
    if gone:
        shard.update(qe.UpdateOperation.delete_points(list(gone)))
    shard.flush()
