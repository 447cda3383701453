"""Shadow reads must not cost the primary path: p50/p99 with shadowing off vs at 100%.

A 10k x 384 cosine collection is written through the proxy (dual-write). In phase
``shadow`` the app's queries are timed with the shadow sample rate at 0 ("off") and at
1.0 while the new store is stopped ("down") or slowed by 500 ms ("slow"), through fault
injection. Rounds alternate the scenarios so machine noise hits all alike; the medians
of the rounds and the ratios to "off" are what to read. Then canary at 100% with the new
store stopped: every read falls back to the primary; failed app requests are counted.

    python bench/shadow_cost.py [--records 10000] [--seconds 6] [--rounds 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from harness import ProxyProcess, new_port, proxy_config
from loadgen import JSON, median_of, timed_posts

from proxy.upstream.embedded_chroma import EmbeddedChroma

SCOPE = "/api/v2/tenants/default_tenant/databases/default_database"
DIM = 384
SCENARIOS: dict[str, tuple[float, dict[str, Any]]] = {
    "off": (0.0, {"down": False, "latency_seconds": 0.0}),
    "down": (1.0, {"down": True, "latency_seconds": 0.0, "reads_only": True}),
    "slow": (1.0, {"down": False, "latency_seconds": 0.5, "reads_only": True}),
}


class Bench:
    """One proxy, its admin API, and an HTTP session to drive them."""

    def __init__(self, proxy: ProxyProcess, session: aiohttp.ClientSession) -> None:
        self.proxy = proxy
        self.session = session
        self.admin = f"http://127.0.0.1:{proxy.config['admin']['port']}/admin"

    def cpu_seconds(self) -> float:
        """CPU time the proxy process has used so far (user + system)."""
        import psutil

        assert self.proxy.process is not None
        times = psutil.Process(self.proxy.process.pid).cpu_times()
        return float(times.user + times.system)

    async def post(self, url: str, body: Any) -> Any:
        async with self.session.post(url, data=orjson.dumps(body), headers=JSON) as resp:
            resp.raise_for_status()
            return await resp.json(content_type=None)

    async def load(self, records: int) -> str:
        base = self.proxy.url + SCOPE
        created = await self.post(
            f"{base}/collections", {"name": "bench-shadow", "metadata": {"hnsw:space": "cosine"}}
        )
        rng = np.random.default_rng(1)
        for start in range(0, records, 500):
            n = min(500, records - start)
            body = {
                "ids": [f"r{i}" for i in range(start, start + n)],
                "embeddings": rng.normal(size=(n, DIM)).astype(np.float32).tolist(),
                "metadatas": [{"n": i} for i in range(start, start + n)],
                "documents": [f"document {i}" for i in range(start, start + n)],
            }
            await self.post(f"{base}/collections/{created['id']}/add", body)
        await self._caught_up()
        return str(created["id"])

    async def _caught_up(self) -> None:
        for _ in range(3000):
            if not (await self._status())["journal"]["lag_entries"]:
                return
            await asyncio.sleep(0.2)
        raise TimeoutError("the journal never caught up")

    async def _status(self) -> Any:
        async with self.session.get(self.proxy.url + "/-/status") as resp:
            return await resp.json()

    async def scenario(self, name: str) -> None:
        """Switch scenario after draining the last one's shadow backlog (fast: store down)."""
        await self.post(f"{self.admin}/shadow", {"sample_rate": 0.0})
        await self.post(f"{self.proxy.url}/-/faults", SCENARIOS["down"][1])
        await self._drained()
        rate, faults = SCENARIOS[name]
        await self.post(f"{self.proxy.url}/-/faults", faults)
        await self.post(f"{self.admin}/shadow", {"sample_rate": rate})

    async def _drained(self) -> None:
        last = None
        for _ in range(600):
            async with self.session.get(self.proxy.url + "/-/shadow") as resp:
                snapshot = await resp.json()
            done = (snapshot["compared"], snapshot["dropped"])
            if snapshot["queue"]["size"] == 0 and done == last:
                return
            last = done
            await asyncio.sleep(0.6)  # > the 0.5 s of an in-flight slowed call

    async def shadow_totals(self) -> dict[str, Any]:
        async with self.session.get(self.proxy.url + "/-/shadow") as resp:
            snapshot = await resp.json()
        return {k: snapshot[k] for k in ("compared", "dropped", "by_category")}


def _queries() -> list[bytes]:
    rng = np.random.default_rng(2)
    return [
        orjson.dumps({"query_embeddings": rng.normal(size=(1, DIM)).tolist(), "n_results": 10,
                      "include": ["metadatas", "documents", "distances"]})
        for _ in range(200)
    ]  # fmt: skip


async def _shadow_rounds(bench: Bench, url: str, args: argparse.Namespace) -> dict[str, Any]:
    bodies, results = _queries(), {}
    for c in (1, 16):
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in SCENARIOS}
        for _ in range(args.rounds):
            for name in SCENARIOS:
                await bench.scenario(name)
                cpu_before = bench.cpu_seconds()
                result = await timed_posts(
                    bench.session, url, bodies, c, args.seconds, count_failures=True
                )
                requests = result["per_second"] * args.seconds
                result["proxy_cpu_ms_per_read"] = (
                    1000 * (bench.cpu_seconds() - cpu_before) / max(1.0, requests)
                )
                rounds[name].append(result)
        medians = {name: median_of(r) for name, r in rounds.items()}
        for name in ("down", "slow"):
            for q in ("p50_ms", "p99_ms", "proxy_cpu_ms_per_read"):
                ratio = q.replace("_ms", "_ratio") if q != "proxy_cpu_ms_per_read" else "cpu_ratio"
                medians[name][ratio] = medians[name][q] / medians["off"][q]
        results[f"query_c{c}"] = medians
    await bench.scenario("off")
    results["shadow_totals"] = await bench.shadow_totals()
    return results


async def _canary_fallback(bench: Bench, url: str, seconds: float) -> dict[str, Any]:
    """Canary 100% with the new store stopped: every read must fall back, none fail."""
    await bench.post(f"{bench.admin}/phase", {"phase": "canary"})
    await bench.post(f"{bench.admin}/canary", {"percent": 100})
    await bench.post(f"{bench.proxy.url}/-/faults", {"down": True, "reads_only": True})
    timed = await timed_posts(bench.session, url, _queries(), 16, seconds, count_failures=True)
    result: dict[str, Any] = dict(timed)
    async with bench.session.get(bench.proxy.url + "/metrics") as resp:
        text = await resp.text()
    result["canary_reads"] = [ln for ln in text.splitlines() if ln.startswith("vecbridge_canary")]
    return result


async def _bench(proxy: ProxyProcess, args: argparse.Namespace) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector) as session:
        bench = Bench(proxy, session)
        cid = await bench.load(args.records)
        url = f"{proxy.url}{SCOPE}/collections/{cid}/query"
        results = await _shadow_rounds(bench, url, args)
        results["canary_100_target_down_c16"] = await _canary_fallback(bench, url, args.seconds)
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=6.0, help="per measurement round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="write JSON results here")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="vecbridge-bench-"))
    with EmbeddedChroma(tmp / "chroma") as chroma:
        config = proxy_config(
            tmp, chroma.url, new_port(), target={"path": ":memory:"}, faults={"enabled": True},
            migration={"initial_phase": "shadow"}, guard={"enabled": False},
        )  # fmt: skip
        proxy = ProxyProcess(tmp, config).start()
        try:
            results = asyncio.run(_bench(proxy, args))
        finally:
            proxy.kill()
    text = orjson.dumps(results, option=orjson.OPT_INDENT_2).decode()
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
