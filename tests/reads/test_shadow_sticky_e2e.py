"""Must-show 4 through a real proxy: 10,000 sticky keys at canary 10% then 30%.

Which store answered is observable without touching the response: one record is added
to Chroma directly (behind the proxy's back), so ``count`` is N+1 from the old store and
N from the new one. The app here is a plain HTTP client sending the sticky header.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import numpy as np
from shadow_support import admin_post, client_of, load, start

from proxy.upstream.embedded_chroma import EmbeddedChroma

KEYS = [f"tenant-{i}" for i in range(10_000)]
HEADER = "X-Tenant"
N = 50


async def _new_store_keys(url: str, n_new: int) -> set[str]:
    """The keys whose count came from the new store (it holds ``n_new`` records)."""
    hits: set[str] = set()
    connector = aiohttp.TCPConnector(limit=16)
    async with aiohttp.ClientSession(connector=connector) as session:
        queue: asyncio.Queue[str] = asyncio.Queue()
        for key in KEYS:
            queue.put_nowait(key)

        async def worker() -> None:
            while not queue.empty():
                key = queue.get_nowait()
                async with session.get(url, headers={HEADER: key}) as response:
                    assert response.status == 200
                    if int(await response.text()) == n_new:
                        hits.add(key)

        await asyncio.gather(*(worker() for _ in range(16)))
    return hits


def test_keys_stay_on_the_new_store_as_the_share_grows(
    tmp_path: Path, chroma_server: EmbeddedChroma, unique_name: str
) -> None:
    proxy = start(
        tmp_path, chroma_server.url, "canary", canary={"percent": 10, "sticky_header": HEADER},
        target={"path": ":memory:"},
    )  # fmt: skip
    try:
        vectors = np.random.default_rng(1).normal(size=(N, 4)).astype(np.float32)
        collection = load(proxy, unique_name, vectors)
        client_of(chroma_server.url).get_collection(unique_name).add(
            ids=["behind-the-back"], embeddings=[[0.0, 0.0, 0.0, 1.0]]
        )
        url = (f"{proxy.url}/api/v2/tenants/default_tenant/databases/default_database/"
               f"collections/{collection.id}/count")  # fmt: skip
        at_10 = asyncio.run(_new_store_keys(url, N))
        assert admin_post(proxy, "/admin/canary", {"percent": 30})["active_percent"] == 30
        at_30 = asyncio.run(_new_store_keys(url, N))
        assert at_10 <= at_30, f"{len(at_10 - at_30)} keys moved back to the old store"
        assert abs(len(at_10) / len(KEYS) * 100 - 10) <= 2, len(at_10)
        assert abs(len(at_30) / len(KEYS) * 100 - 30) <= 2, len(at_30)
    finally:
        proxy.kill()
