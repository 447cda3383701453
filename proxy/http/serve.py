"""``vecbridge serve``: start the embedded source if configured, then run the proxy.

The proxy accepts traffic only after the source answers its health check. SIGTERM
and SIGINT stop it gracefully (in-flight requests finish, the journal is closed, the
embedded Chroma is stopped with it). SIGHUP re-reads the config file (hot keys only, see
proxy/ops/reload.py). The admin API (proxy/ops/admin.py) runs next to the app on its own port.

A port that is already taken (the app's, the admin API's, the embedded Chroma's) stops
the start with a one-line message naming the config key, exit code 1: a second proxy
must not come up half-way or adopt the first one's Chroma.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

import uvloop
from aiohttp import web

from proxy.core.config import Config
from proxy.http.server import build_app
from proxy.ops.admin import AdminRefused, check_admin_bind, start_admin
from proxy.ops.reload import CONFIG_PATH_KEY
from proxy.ops.running import PROXY_KEY
from proxy.upstream.embedded_chroma import EmbeddedChroma, EmbeddedChromaError, port_in_use

log = logging.getLogger("vecbridge.serve")

SWITCH_INTERVAL_SECONDS = 0.001


class ServeError(RuntimeError):
    """The proxy cannot start; the message is one line for the operator."""


def _taken(what: str, host: str, port: int, key: str, env: str) -> ServeError:
    return ServeError(
        f"{what}: port {port} on {host} is already in use (another vecbridge?); "
        f"set {key} ({env}) to another port"
    )


def _app_port_taken(config: Config) -> ServeError:
    listen = config.listen
    return _taken("app port", listen.host, listen.port, "listen.port", "VECBRIDGE_LISTEN__PORT")


def _admin_port_taken(config: Config) -> ServeError:
    admin = config.admin
    return _taken("admin API", admin.host, admin.port, "admin.port", "VECBRIDGE_ADMIN__PORT")


def _admin_will_bind(config: Config) -> bool:
    """The admin API is meant to listen (enabled, and allowed on its address)."""
    if not config.admin.enabled:
        return False
    try:
        check_admin_bind(config.admin)
    except AdminRefused:
        return False  # start_admin logs why; the app still serves
    return True


def check_ports(config: Config) -> None:
    """Refuse before anything starts when the app or admin port is taken."""
    if port_in_use(config.listen.host, config.listen.port):
        raise _app_port_taken(config)
    if _admin_will_bind(config) and port_in_use(config.admin.host, config.admin.port):
        raise _admin_port_taken(config)


async def _run(config: Config, source_url: str, config_path: Path | None) -> None:
    app = build_app(config, source_url)
    if config_path is not None:
        app[CONFIG_PATH_KEY] = config_path
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        admin = await _start_sites(runner, app, config)
    except BaseException:
        await runner.cleanup()
        raise
    log.info(
        "vecbridge listening on http://%s:%d (source %s)",
        config.listen.host, config.listen.port, source_url,
    )  # fmt: skip
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


async def _start_sites(
    runner: web.AppRunner, app: web.Application, config: Config
) -> web.AppRunner | None:
    """Listen on the app port, then start the admin API; ServeError when a port is taken
    (someone bound it after :func:`check_ports` looked)."""
    site = web.TCPSite(runner, config.listen.host, config.listen.port, backlog=1024)
    try:
        await site.start()
    except OSError as exc:
        raise _app_port_taken(config) from exc
    admin = await start_admin(app, config.admin)
    if admin is None and _admin_will_bind(config):
        raise _admin_port_taken(config)
    return admin


def serve(config: Config, config_path: Path | None = None) -> int:
    """Run until SIGTERM/SIGINT; ``config_path`` is re-read on SIGHUP and on change."""
    # Background threads (the journal, an embedded Qdrant) hold the GIL in long Python
    # stretches; the default 5 ms switch interval let one search delay a request that
    # much. 1 ms hands the event loop back sooner for a small switching cost.
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    embedded: EmbeddedChroma | None = None
    source_url = config.source.url
    try:
        check_ports(config)
        if source_url is None:
            settings = config.source.embedded
            embedded = EmbeddedChroma(settings.path, settings.host, settings.port)
            log.info("starting embedded Chroma at %s (data in %s)", embedded.url, settings.path)
            embedded.start(settings.startup_timeout_seconds)
            source_url = embedded.url
        uvloop.run(_run(config, source_url, config_path))
    except (ServeError, EmbeddedChromaError) as exc:
        print(f"vecbridge serve: {exc}", file=sys.stderr)
        return 1
    finally:
        if embedded is not None:
            embedded.stop()
    return 0
