"""Canary routing: which reads the new store answers, sticky per key.

A read's key is its collection plus the value of the configured sticky header (a tenant
or user id). The key hashes to a fixed point in [0, 100); the read goes to the new store
when that point is below the canary percentage. So at a given percentage a key always
lands on the same side, and raising the percentage only moves keys from the old store to
the new one (a key below 10 is also below 30). Without a sticky header (or when the
request lacks it) every read is its own key: a fresh random point per request.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping

from proxy.core.live import LiveValues
from proxy.core.phases import NEW_STORE_PRIMARY

_SCALE = 100.0 / float(1 << 64)


def bucket(collection: str, key: str) -> float:
    """The fixed point in [0, 100) of ``(collection, key)``; stable across processes."""
    digest = hashlib.blake2b(collection.encode() + b"\x00" + key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") * _SCALE


def serving_percent(values: LiveValues) -> float:
    """Share (0..100) of translatable reads the new store answers now.

    The canary share while in canary; every read from cutover on, where the new store
    is the primary. (Checked here as well as in LiveSettings so cutover routing never
    depends on how the live snapshot reports it.)
    """
    if values.phase in NEW_STORE_PRIMARY:
        return 100.0
    return values.canary_active_percent


class CanaryRouter:
    """Decides, per read, whether the new store answers it."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._random = rng or random.Random()

    def point(
        self, collection: str, headers: Mapping[str, str], sticky_header: str | None
    ) -> float:
        """Where this read falls in [0, 100): by key when sticky, else at random."""
        if sticky_header:
            value = headers.get(sticky_header)
            if value is not None:
                return bucket(collection, value)
        return self._random.random() * 100.0

    def routed(
        self,
        percent: float,
        collection: str,
        headers: Mapping[str, str],
        sticky_header: str | None,
    ) -> bool:
        """True when the new store should answer (``percent`` is 0..100)."""
        if percent <= 0.0:
            return False
        if percent >= 100.0:
            return True
        return self.point(collection, headers, sticky_header) < percent
