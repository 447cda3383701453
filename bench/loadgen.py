"""The benchmarks' load generator: a timed closed loop of POSTs, and medians of rounds.

``concurrency`` workers each send the next of ``bodies`` (round robin) and wait for the
answer, until ``seconds`` have passed; latencies are measured per request.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import aiohttp

JSON = {"Content-Type": "application/json"}


async def timed_posts(
    session: aiohttp.ClientSession,
    url: str,
    bodies: list[bytes],
    concurrency: int,
    seconds: float,
    count_failures: bool = False,
) -> dict[str, float]:
    """p50/p99 latency (ms) and requests per second of a closed loop against ``url``.

    A non-2xx answer raises, unless ``count_failures``: then it is counted and the result
    has a ``failed`` key too.
    """
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))

    async def worker() -> None:
        nonlocal failures
        while time.perf_counter() < deadline:
            body = bodies[next(counter) % len(bodies)]
            started = time.perf_counter()
            async with session.post(url, data=body, headers=JSON) as resp:
                await resp.read()
                if resp.status >= 300 and not count_failures:
                    raise RuntimeError(f"{url} -> {resp.status}")
                failures += resp.status >= 300
            latencies.append(time.perf_counter() - started)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    result = {
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "per_second": len(latencies) / elapsed,
    }
    if count_failures:
        result["failed"] = failures
    return result


def median_of(rounds: list[dict[str, float]]) -> dict[str, float]:
    """Key by key, the median of several rounds' results."""
    return {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
