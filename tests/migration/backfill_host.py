"""A proxy process that starts a backfill inside itself, as the admin API would.

``python tests/migration/backfill_host.py CONFIG COLLECTION BATCH``: serves the proxy from
CONFIG and calls ``start_backfill`` just before it listens (resuming from the checkpoint when
one exists). Tests SIGKILL it mid-backfill to prove resume, and SIGTERM it to stop.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from aiohttp import web

from proxy.core.config import load_config
from proxy.http.server import build_app
from proxy.ops.background_runs import start_backfill
from proxy.ops.running import PROXY_KEY


async def main(config_path: str, collection: str, batch: int) -> None:
    config = load_config(Path(config_path))
    assert config.source.url is not None
    app = build_app(config, config.source.url)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    # Started before the port listens: once the proxy is ready, its status already shows
    # the backfill running (a test polling right after start must not see "not started").
    await start_backfill(app[PROXY_KEY], [collection], {"batch_size": batch, "concurrency": 2})
    await web.TCPSite(runner, config.listen.host, config.listen.port).start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
