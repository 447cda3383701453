"""Human output of the migration verbs: a progress bar and the report tables."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from typing import Any

from proxy.migration.backfill_state import BackfillRun

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


SHOWN_IDS = 5


def _ids_line(label: str, ids: Sequence[str], total: int, where: str | None) -> str:
    """``label: a, b, c`` with the first few ids, and where to find the rest."""
    line = f"{label}: {', '.join(ids[:SHOWN_IDS])}"
    rest = total - min(len(ids), SHOWN_IDS)
    if rest > 0:
        line += f" ... {rest} more" + (f", see {where}" if where else "")
    return line


def _print_ids(c: dict[str, Any], where: str | None) -> None:
    """The ids behind the table's numbers: mismatched, missing, extra."""
    name = c["collection"]
    mismatched = list(c["mismatched_ids"].items())
    for rid, fields in mismatched[:SHOWN_IDS]:
        print(f"  {name}: {rid} differs in {', '.join(fields)}")
    if c["mismatches"] > SHOWN_IDS:
        more = c["mismatches"] - SHOWN_IDS
        print(f"  {name}: ... {more} more differ" + (f", see {where}" if where else ""))
    if c["missing_in_target"]:
        print("  " + _ids_line(f"{name}: missing in target", c["missing_ids"],
                               c["missing_in_target"], where))
    if c["extra_in_target"]:
        print("  " + _ids_line(f"{name}: extra in target", c["extra_ids"],
                               c["extra_in_target"], where))


def _print_repairs(report: dict[str, Any], where: str | None) -> None:
    repairs = report.get("repairs")
    if repairs is None:
        return
    for r in repairs:
        print("  " + _ids_line(f"{r['collection']}: repaired {r['ids']} ids "
                               f"({r['upserted']} re-copied, {r['deleted']} deleted)",
                               r["fixed_ids"], r["ids"], where))
    repaired = sum(r["ids"] for r in repairs)
    still = sum(r["still_different"] for r in repairs)
    print(f"repaired {repaired}; still different {still}; "
          + ("PASSED" if report["passed"] else "FAILED"))


def print_validation(report: dict[str, Any]) -> None:
    """The table (after any repair), the ids behind it, the repairs, the verdict."""
    rows = []
    for c in report["collections"]:
        recall = c["recall"].get("mean") if c["recall"] else None
        rows.append([c["collection"], "PASS" if c["passed"] else "FAIL", c["source_count"],
                     c["target_count"], c["compared"], c["mismatches"], c["missing_in_target"],
                     c["extra_in_target"], "-" if recall is None else f"{recall:.3f}",
                     c["problem"] or ""])
    _table(["collection", "result", "source", "target", "compared", "mismatched", "missing",
            "extra", "recall", "problem"], rows)
    where = report.get("mismatch_file")
    for c in report["collections"]:
        _print_ids(c, where)
    _print_repairs(report, where)
    if where:
        found = "found different (before the repair)" if "repairs" in report else "that differ"
        print(f"every id {found} is listed in {where}")
    print(f"validation ({report['mode']}): " + ("PASSED" if report["passed"] else "FAILED"))
