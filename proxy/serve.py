"""``vecbridge serve``: start the embedded source if configured, then run the proxy.

The proxy accepts traffic only after the source answers its health check. SIGTERM
and SIGINT stop it gracefully (in-flight requests finish, the journal is closed, the
embedded Chroma is stopped with it).
"""

from __future__ import annotations

import asyncio
import logging
import signal

import uvloop
from aiohttp import web

from proxy.config import Config
from proxy.embedded import EmbeddedChroma, EmbeddedChromaError
from proxy.server import build_app

log = logging.getLogger("vecbridge.serve")


async def _run(config: Config, source_url: str) -> None:
    app = build_app(config, source_url)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, config.listen.host, config.listen.port, backlog=1024)
    await site.start()
    log.info(
        "vecbridge listening on http://%s:%d (source %s)",
        config.listen.host, config.listen.port, source_url,
    )  # fmt: skip
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("vecbridge stopping")
        await runner.cleanup()


def serve(config: Config) -> int:
    embedded: EmbeddedChroma | None = None
    source_url = config.source.url
    if source_url is None:
        settings = config.source.embedded
        embedded = EmbeddedChroma(settings.path, settings.host, settings.port)
        log.info("starting embedded Chroma at %s (data in %s)", embedded.url, settings.path)
        try:
            embedded.start(settings.startup_timeout_seconds)
        except EmbeddedChromaError as exc:
            log.error("embedded Chroma failed: %s", exc)
            return 1
        source_url = embedded.url
    try:
        uvloop.run(_run(config, source_url))
    finally:
        if embedded is not None:
            embedded.stop()
    return 0
