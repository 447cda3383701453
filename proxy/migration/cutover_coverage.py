"""Cutover precondition: the new store holds what the old one holds, collection by collection.

Dual-write only carries writes made since mirror began; what existed before reaches the
new store through ``vecbridge backfill``. A cutover without it would make the new store
primary while it lacks records or whole collections: the app's writes to a missing
collection would fail (the new store answers "does not exist") and its reads would miss
records. So, unless forced, cutover is refused while a collection of the old store is
missing from the new one, or the new one holds clearly fewer records. Live writes make
the two counts differ by what is in flight, so a shortfall must exceed a small slack and
persist over a few looks; ``vecbridge validate`` remains the full check.
"""

from __future__ import annotations

import asyncio

from adapters.base import CollectionKey, StoreError, VectorStore
from proxy.core.phases import IllegalTransition

# The collections named in a refusal; the rest are counted.
NAMED = 3
# A shortfall within max(SLACK_RECORDS, SLACK_SHARE of the old store's count) is taken for
# writes in flight; one that persists over LOOKS counts LOOK_INTERVAL apart refuses.
SLACK_RECORDS = 10
SLACK_SHARE = 0.001
LOOKS = 3
LOOK_INTERVAL = 0.3


async def check_coverage(source: VectorStore, target: VectorStore) -> None:
    """Raise IllegalTransition naming the old store's collections the new one lacks."""
    try:
        await _check(source, target)
    except StoreError as exc:
        raise IllegalTransition(
            f"cannot compare the stores' collections ({type(exc).__name__}: {exc}); "
            "cutover refused (force to skip the check)"
        ) from exc


async def _check(source: VectorStore, target: VectorStore) -> None:
    source_specs = await source.list_collections()
    target_keys = {spec.key for spec in await target.list_collections()}
    missing = [spec.key for spec in source_specs if spec.key not in target_keys]
    short = {spec.key: (0, 0) for spec in source_specs if spec.key in target_keys}
    for look in range(LOOKS):
        if look:
            await asyncio.sleep(LOOK_INTERVAL)
        counts = await asyncio.gather(*(_counts(source, target, key) for key in short))
        short = {key: c for key, c in zip(short, counts, strict=True) if _short(*c)}
        if not short:
            break
    problems = [f"{key} (missing in the new store)" for key in missing]
    problems += [f"{key} ({n} records in the old store, {m} in the new)"
                 for key, (n, m) in short.items()]  # fmt: skip
    if not problems:
        return
    named = ", ".join(problems[:NAMED])
    more = f" and {len(problems) - NAMED} more" if len(problems) > NAMED else ""
    raise IllegalTransition(
        f"the new store lacks data the old one holds: {named}{more}; run `vecbridge "
        "backfill` and `vecbridge validate` first, or force"
    )


def _short(source_count: int, target_count: int) -> bool:
    """The new store holds fewer records than writes in flight can explain."""
    slack = max(SLACK_RECORDS, int(source_count * SLACK_SHARE))
    return source_count - target_count > slack


async def _counts(source: VectorStore, target: VectorStore, key: CollectionKey) -> tuple[int, int]:
    return await source.count(key), await target.count(key)
