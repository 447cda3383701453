"""``vecbridge serve``: start the embedded source if configured, then run the proxy.

The proxy accepts traffic only after the source answers its health check. SIGTERM
and SIGINT stop it gracefully (in-flight requests finish, the journal is closed, the
embedded Chroma is stopped with it). SIGHUP re-reads the config file (hot keys only, see
proxy/reload.py). The admin API (proxy/admin.py) runs next to the app on its own port.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

import uvloop
from aiohttp import web

from proxy.admin import start_admin
from proxy.config import Config
from proxy.embedded import EmbeddedChroma, EmbeddedChromaError
from proxy.reload import CONFIG_PATH_KEY
from proxy.server import PROXY_KEY, build_app

log = logging.getLogger("vecbridge.serve")

SWITCH_INTERVAL_SECONDS = 0.001


async def _run(config: Config, source_url: str, config_path: Path | None) -> None:
    app = build_app(config, source_url)
    if config_path is not None:
        app[CONFIG_PATH_KEY] = config_path
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, config.listen.host, config.listen.port, backlog=1024)
    await site.start()
    log.info(
        "vecbridge listening on http://%s:%d (source %s)",
        config.listen.host, config.listen.port, source_url,
    )  # fmt: skip
    admin = await start_admin(app, config.admin)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: app[PROXY_KEY].control.reloader.reload("sighup"))
    try:
        await stop.wait()
    finally:
        log.info("vecbridge stopping")
        if admin is not None:
            await admin.cleanup()
        await runner.cleanup()


def serve(config: Config, config_path: Path | None = None) -> int:
    """Run until SIGTERM/SIGINT; ``config_path`` is re-read on SIGHUP and on change."""
    # Background threads (the journal, an embedded Qdrant) hold the GIL in long Python
    # stretches; the default 5 ms switch interval let one search delay a request that
    # much. 1 ms hands the event loop back sooner for a small switching cost.
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
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
        uvloop.run(_run(config, source_url, config_path))
    finally:
        if embedded is not None:
            embedded.stop()
    return 0
