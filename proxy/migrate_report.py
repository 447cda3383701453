"""Human output of the migration verbs: a progress bar and the report tables."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from typing import Any

from proxy.backfill_state import BackfillRun

WIDTH = 28


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "--"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class ProgressBar:
    """One updating line on stderr (a line every few seconds when not a terminal)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self._last = 0.0
        self._began = time.monotonic()
        self._drawn = False

    def show(self, label: str, done: int, total: int, rate: float | None = None,
             eta: float | None = None, state: str = "") -> None:
        now = time.monotonic()
        if not self.enabled or now - self._last < (0.2 if self.tty else 5.0):
            return
        self._last = now
        if rate is None:
            rate = done / max(now - self._began, 1e-6)
            eta = (total - done) / rate if rate > 0 and total >= done else None
        share = done / total if total else 0.0
        bar = "#" * int(share * WIDTH) + "-" * (WIDTH - int(share * WIDTH))
        line = (f"{label[:24]:<24} [{bar}] {share:6.1%} {done:,}/{total:,} "
                f"{rate:,.0f} rec/s ETA {_duration(eta)} {state}")
        sys.stderr.write(("\r" + line) if self.tty else (line + "\n"))
        sys.stderr.flush()
        self._drawn = True

    def update(self, progress: dict[str, Any]) -> None:
        """Draw the collection currently being worked on from a progress dict."""
        for item in progress.get("collections", []):
            if item["state"] in ("copying", "catching_up"):
                self.show(item["collection"], item["copied"], item["total"],
                          item["records_per_second"], item["eta_seconds"], item["state"])
                return

    async def watch(self, run: BackfillRun) -> None:
        while True:
            self.update(run.as_dict())
            await asyncio.sleep(0.2)

    def finish(self) -> None:
        if self._drawn and self.tty:
            sys.stderr.write("\n")


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def print_plan(plans: Sequence[dict[str, Any]]) -> None:
    _table(["collection", "count", "dim", "space", "docs", "ids", "complexity", "est. backfill"],
           [[p["collection"], p["count"], p["dimension"], p["space"],
             f"{p['documents_present']:.0%}", ",".join(p["id_formats"]) or "-",
             p["assessment"]["complexity"], _duration(p["estimate"]["backfill_seconds"])]
            for p in plans])
    for p in plans:
        print(f"\n{p['collection']}")
        for key, info in p["metadata_keys"].items():
            print(f"  metadata {key:<20} {'|'.join(info['types']):<20} "
                  f"fill {info['fill_rate']:.0%}")
        for item, answer in p["assessment"].items():
            print(f"  {item:<20} {answer}")
        target = p["target"]
        print(f"  target               qdrant collection {target['collection']!r}, "
              f"size {target['vectors']['size']}, {target['vectors']['distance']}")


def print_backfill(result: dict[str, Any]) -> None:
    _table(["collection", "state", "copied", "resumed from", "replayed", "rec/s"],
           [[c["collection"], c["state"], c["copied"], c["resumed_from"],
             c["replayed_entries"], c["records_per_second"]] for c in result["collections"]])
    print("backfill " + ("done" if result.get("passed") else f"FAILED: {result.get('error')}"))


def print_validation(report: dict[str, Any]) -> None:
    rows = []
    for c in report["collections"]:
        recall = c["recall"].get("mean") if c["recall"] else None
        rows.append([c["collection"], "PASS" if c["passed"] else "FAIL", c["source_count"],
                     c["target_count"], c["compared"], c["mismatches"], c["missing_in_target"],
                     c["extra_in_target"], "-" if recall is None else f"{recall:.3f}",
                     c["problem"] or ""])
    _table(["collection", "result", "source", "target", "compared", "mismatched", "missing",
            "extra", "recall", "problem"], rows)
    for c in report["collections"]:
        for rid, fields in c["mismatched_ids"].items():
            print(f"  {c['collection']}: {rid} differs in {', '.join(fields)}")
    for repair in report.get("repairs", []):
        print(f"repaired {repair['collection']}: {repair['upserted']} re-copied, "
              f"{repair['deleted']} deleted, {repair['still_different']} still different")
    if report.get("mismatch_file"):
        print(f"mismatching ids written to {report['mismatch_file']}")
    print(f"validation ({report['mode']}): " + ("PASSED" if report["passed"] else "FAILED"))
