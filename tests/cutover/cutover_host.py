"""The proxy as a child process, plus two test-only admin routes.

``python tests/cutover/cutover_host.py CONFIG`` serves the proxy like ``vecbridge serve``
(app port + admin API) and adds, on the admin API:

    POST /admin/backfill {"collections"}  start_backfill inside the proxy (no such admin
                                          route ships yet; the library function does)
    GET  /admin/test/rows?name=N          every record the TARGET holds for collection N,
                                          read through the proxy's own adapter (the local
                                          Qdrant path is locked by the running proxy)
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web

from adapters.base import CollectionKey
from proxy.core.config import load_config
from proxy.http.server import build_app
from proxy.ops.admin import add_admin_route, start_admin
from proxy.ops.admin_routes import _body, _json, proxy_of
from proxy.ops.background_runs import backfill_progress, start_backfill


async def post_backfill(request: web.Request) -> web.Response:
    body = await _body(request)
    return _json(await start_backfill(proxy_of(request), body.get("collections"), {}))


async def get_backfill(request: web.Request) -> web.Response:
    return _json(backfill_progress(proxy_of(request)))


async def get_rows(request: web.Request) -> web.Response:
    target = proxy_of(request).target
    key = CollectionKey(request.query["name"])
    rows: dict[str, Any] = {}
    cursor = None
    while True:
        page = await target.scroll(key, cursor, 500)
        for r in page.records:
            vector = None if r.embedding is None else np.asarray(r.embedding).tolist()
            rows[r.id] = {"e": vector, "m": r.metadata, "d": r.document}
        cursor = page.next_cursor
        if cursor is None:
            return _json(rows)


async def main(config_path: str) -> None:
    add_admin_route("POST", "/admin/backfill", post_backfill)
    add_admin_route("GET", "/admin/backfill", get_backfill)
    add_admin_route("GET", "/admin/test/rows", get_rows)
    config = load_config(Path(config_path))
    assert config.source.url is not None
    app = build_app(config, config.source.url)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, config.listen.host, config.listen.port).start()
    admin = await start_admin(app, config.admin)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    if admin is not None:
        await admin.cleanup()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
