"""Proxy overhead: proxied vs direct Chroma, side by side in one run.

Query p50/p99 and throughput, and add (dual-write) throughput, on a 10k x 384 cosine
collection at concurrency 1 and 16. Rounds alternate direct/proxied so machine noise
hits both sides alike; ratios are what to read. Optionally samples the proxy's RSS
under a sustained write load (``--soak SECONDS``).

    python bench/proxy_overhead.py [--records 10000] [--seconds 8] [--soak 600] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from harness import ProxyProcess, new_port, proxy_config
from loadgen import median_of, timed_posts

from proxy.upstream.embedded_chroma import EmbeddedChroma

SCOPE = "/api/v2/tenants/default_tenant/databases/default_database"
DIM = 384


async def _create(session: aiohttp.ClientSession, base: str, name: str) -> str:
    body = {"name": name, "metadata": {"hnsw:space": "cosine"}}
    async with session.post(f"{base}{SCOPE}/collections", json=body) as resp:
        resp.raise_for_status()
        return str((await resp.json())["id"])


def _add_body(rng: np.random.Generator, start: int, n: int) -> bytes:
    return orjson.dumps({
        "ids": [f"r{i}" for i in range(start, start + n)],
        "embeddings": rng.normal(size=(n, DIM)).astype(np.float32),
        "metadatas": [{"n": i, "tag": f"t{i % 10}"} for i in range(start, start + n)],
        "documents": [f"document {i}" for i in range(start, start + n)],
    }, option=orjson.OPT_SERIALIZE_NUMPY)  # fmt: skip


async def _load(session: aiohttp.ClientSession, base: str, cid: str, records: int) -> None:
    rng = np.random.default_rng(1)
    for start in range(0, records, 500):
        body = _add_body(rng, start, min(500, records - start))
        async with session.post(f"{base}{SCOPE}/collections/{cid}/add", data=body,
                                headers={"Content-Type": "application/json"}) as resp:  # fmt: skip
            resp.raise_for_status()


async def _pause_applier(session: aiohttp.ClientSession, proxied: str, paused: bool) -> None:
    async with session.post(f"{proxied}/-/faults", json={"down": paused}) as resp:
        resp.raise_for_status()


async def _bench(
    direct: str, proxied: str, bare: str, records: int, seconds: float
) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector) as session:
        cid = await _create(session, proxied, "bench-query")  # through the proxy: dual-written
        await _load(session, proxied, cid, records)
        rng = np.random.default_rng(2)
        queries = [orjson.dumps({"query_embeddings": rng.normal(size=(1, DIM)).astype(np.float32),
                                 "n_results": 10,
                                 "include": ["metadatas", "documents", "distances"]},
                                option=orjson.OPT_SERIALIZE_NUMPY) for _ in range(200)]  # fmt: skip
        results: dict[str, Any] = {}
        for c in (1, 16):
            # "bare": bench/passthrough.py, the HTTP stack's own floor (see its docstring)
            query_sides = (("direct", direct), ("bare_passthrough", bare), ("proxy", proxied))
            rounds: dict[str, list[dict[str, float]]] = {side: [] for side, _ in query_sides}
            for _ in range(3):
                for side, base in query_sides:
                    url = f"{base}{SCOPE}/collections/{cid}/query"
                    rounds[side].append(await timed_posts(session, url, queries, c, seconds))
            results[f"query_c{c}"] = {s: median_of(r) for s, r in rounds.items()}
        # "proxy" applies to the in-process target as it goes; "proxy_applier_paused" shows
        # the app-facing dual-write path alone (intent, forward, read-back, journal).
        sides = (("direct", direct), ("proxy", proxied), ("proxy_applier_paused", proxied))
        for c in (1, 16):
            rounds = {side: [] for side, _ in sides}
            for rnd in range(2):
                for side, base in sides:
                    await _pause_applier(session, proxied, side == "proxy_applier_paused")
                    add_cid = await _create(session, base, f"bench-add-{side}-{c}-{rnd}")
                    adds = [_add_body(rng, i * 100, 100) for i in range(100)]
                    url = f"{base}{SCOPE}/collections/{add_cid}/add"
                    rounds[side].append(await timed_posts(session, url, adds, c, seconds))
            await _pause_applier(session, proxied, False)
            results[f"add100_c{c}"] = {s: median_of(r) for s, r in rounds.items()}
        return results


async def _soak(proxied: str, proxy: ProxyProcess, seconds: float) -> list[tuple[float, float]]:
    import psutil

    assert proxy.process is not None
    rss: list[tuple[float, float]] = []
    process = psutil.Process(proxy.process.pid)
    async with aiohttp.ClientSession() as session:
        cid = await _create(session, proxied, "bench-soak")
        rng = np.random.default_rng(3)
        bodies = [_add_body(rng, i * 100, 100) for i in range(50)]
        url = f"{proxied}{SCOPE}/collections/{cid}/upsert"
        began = time.monotonic()
        while time.monotonic() - began < seconds:
            await timed_posts(session, url, bodies, 4, 10.0)
            rss.append((time.monotonic() - began, process.memory_info().rss / 2**20))
    return rss


def _wait_listening(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=8.0, help="per measurement round")
    parser.add_argument("--soak", type=float, default=0.0, help="RSS soak duration (s)")
    parser.add_argument("--soak-only", action="store_true", help="skip the latency rounds")
    parser.add_argument("--out", type=Path, default=None, help="write JSON results here")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="vecbridge-bench-"))
    with EmbeddedChroma(tmp / "chroma") as chroma:
        # An in-memory target: the applier still runs in the proxy process (local mode is
        # pure Python), so its CPU competes with the request path on these 2 cores.
        config = proxy_config(
            tmp, chroma.url, new_port(), target={"path": ":memory:"}, faults={"enabled": True}
        )
        proxy = ProxyProcess(tmp, config).start()
        bare_port = new_port()
        passthrough = Path(__file__).with_name("passthrough.py")
        bare = subprocess.Popen([sys.executable, str(passthrough), chroma.url, str(bare_port)])
        try:
            results: dict[str, Any] = {}
            if not args.soak_only:
                bare_url = f"http://127.0.0.1:{bare_port}"
                _wait_listening(bare_url)
                results = asyncio.run(
                    _bench(chroma.url, proxy.url, bare_url, args.records, args.seconds)
                )
            if args.soak:
                results["soak_rss_mib"] = asyncio.run(_soak(proxy.url, proxy, args.soak))
        finally:
            bare.kill()
            proxy.kill()
    text = orjson.dumps(results, option=orjson.OPT_INDENT_2).decode()
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
