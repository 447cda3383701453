"""The guard's rules: sliding windows of what the new store did, judged against limits.

Pure and clock-driven: feed it samples with a timestamp, ask :meth:`Guard.analyse` at a
time, get the breached rules. No I/O, no event loop, so it is tested by feeding events
and advancing a fake clock. :mod:`proxy.migration.guard_watch` wires it to the event bus and acts
on a breach (rollback, alert).

Rules (each disabled by a null limit in ``config.guard``), checked in this order:

- ``error_rate``: share of canary reads the new store failed;
- ``latency_p50`` / ``latency_p99``: new-store minus old-store read latency;
- ``recall``: mean shadow recall@k of the new store;
- ``journal_lag``: age (or count) of unapplied journal entries.

A sampled rule needs ``min_samples`` in the window (on each side, for latency) before it
can breach, so a handful of slow reads right after a restart cannot roll anything back.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from proxy.core.config import GuardConfig

REASONS = ("error_rate", "latency_p50", "latency_p99", "recall", "journal_lag")
# Routes whose latency is comparable between the stores (the ones canary serves).
COMPARABLE_ROUTES = frozenset({"get", "query", "count"})


class Window:
    """Timestamped samples of the last ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._samples: deque[tuple[float, float]] = deque()

    def add(self, now: float, value: float) -> None:
        self._samples.append((now, value))

    def values(self, now: float) -> list[float]:
        """The samples still inside the window at ``now`` (older ones are dropped)."""
        horizon = now - self.seconds
        while self._samples and self._samples[0][0] < horizon:
            self._samples.popleft()
        return [value for _, value in self._samples]

    def clear(self) -> None:
        self._samples.clear()


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Breach:
    """A rule over its limit: ``reason`` is a metric label, ``detail`` is for humans."""

    reason: str
    detail: str


@dataclass(frozen=True)
class Analysis:
    """The guard's judgement at one instant."""

    breaches: tuple[Breach, ...]
    canary_reads: int
    enough_data: bool
    measurements: dict[str, float | int | None] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Enough canary traffic was seen and no rule is breached (ramp's gate)."""
        return self.enough_data and not self.breaches


class Guard:
    """Sliding-window rules over canary errors, latency, shadow recall and journal lag."""

    def __init__(self, config: GuardConfig) -> None:
        self.config = config
        self._errors = Window(config.window_seconds)
        self._new_latency = Window(config.window_seconds)
        self._old_latency = Window(config.window_seconds)
        self._recall = Window(config.window_seconds)
        self._lag: tuple[int, float] = (0, 0.0)

    def update(self, config: GuardConfig) -> None:
        """New limits (hot reload); samples are kept, the window length follows."""
        self.config = config
        for window in (self._errors, self._new_latency, self._old_latency, self._recall):
            window.seconds = config.window_seconds

    def reset(self) -> None:
        """Forget every sample (on re-arm and when a guarded phase starts)."""
        for window in (self._errors, self._new_latency, self._old_latency, self._recall):
            window.clear()
        self._lag = (0, 0.0)

    # samples ---------------------------------------------------------------------
    def record_canary(self, now: float, failed: bool, seconds: float) -> None:
        self._errors.add(now, 1.0 if failed else 0.0)
        if not failed:
            self._new_latency.add(now, seconds)

    def record_latency(self, now: float, store_is_new: bool, seconds: float) -> None:
        (self._new_latency if store_is_new else self._old_latency).add(now, seconds)

    def record_recall(self, now: float, recall: float) -> None:
        self._recall.add(now, recall)

    def observe_lag(self, entries: int, seconds: float) -> None:
        self._lag = (entries, seconds)

    # judgement -------------------------------------------------------------------
    def analyse(self, now: float) -> Analysis:
        """Every rule at ``now``; breaches in the documented order."""
        errors = self._errors.values(now)
        measured: dict[str, float | int | None] = {"canary_reads": len(errors)}
        breaches = [
            *self._error_rule(errors, measured),
            *self._latency_rules(now, measured),
            *self._recall_rule(now, measured),
            *self._lag_rule(measured),
        ]
        enough = len(errors) >= self.config.min_samples
        return Analysis(tuple(breaches), len(errors), enough, measured)

    def _error_rule(
        self, errors: list[float], measured: dict[str, float | int | None]
    ) -> list[Breach]:
        limit = self.config.max_error_rate
        if not errors:
            return []
        rate = sum(errors) / len(errors)
        measured["error_rate"] = round(rate, 4)
        if limit is None or len(errors) < self.config.min_samples or rate <= limit:
            return []
        detail = f"new-store error rate {rate:.1%} > {limit:.1%} over {len(errors)} canary reads"
        return [Breach("error_rate", detail)]

    def _latency_rules(self, now: float, measured: dict[str, float | int | None]) -> list[Breach]:
        new, old = self._new_latency.values(now), self._old_latency.values(now)
        if min(len(new), len(old)) < self.config.min_samples:
            return []
        breaches = []
        limits = (
            ("latency_p50", 50.0, self.config.max_latency_delta_p50_seconds),
            ("latency_p99", 99.0, self.config.max_latency_delta_p99_seconds),
        )
        for reason, q, limit in limits:
            delta = percentile(new, q) - percentile(old, q)
            measured[f"{reason}_delta_seconds"] = round(delta, 6)
            if limit is not None and delta > limit:
                detail = (
                    f"new-store p{q:.0f} read latency is {delta * 1000:.0f} ms above the old "
                    f"store's (limit {limit * 1000:.0f} ms; {len(new)}/{len(old)} samples)"
                )
                breaches.append(Breach(reason, detail))
        return breaches

    def _recall_rule(self, now: float, measured: dict[str, float | int | None]) -> list[Breach]:
        recalls = self._recall.values(now)
        if not recalls:
            return []
        mean = sum(recalls) / len(recalls)
        measured["recall"] = round(mean, 4)
        limit = self.config.min_recall
        if limit is None or len(recalls) < self.config.min_samples or mean >= limit:
            return []
        detail = f"mean shadow recall@k {mean:.3f} < {limit:.3f} over {len(recalls)} comparisons"
        return [Breach("recall", detail)]

    def _lag_rule(self, measured: dict[str, float | int | None]) -> list[Breach]:
        entries, seconds = self._lag
        measured["journal_lag_entries"] = entries
        measured["journal_lag_seconds"] = round(seconds, 3)
        max_seconds = self.config.max_journal_lag_seconds
        max_entries = self.config.max_journal_lag_entries
        if max_seconds is not None and seconds > max_seconds:
            return [Breach("journal_lag", f"journal lag {seconds:.1f} s > {max_seconds:.1f} s")]
        if max_entries is not None and entries > max_entries:
            return [Breach("journal_lag", f"journal lag {entries} entries > {max_entries}")]
        return []
