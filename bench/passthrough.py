"""The floor of the HTTP stack: a bare aiohttp + uvloop pass-through, for reference.

It forwards method, path and body to one upstream over a pooled session and returns
status, body and content type: no classification, no headers policy, no metrics, no
journal. Measured next to vecbridge, it shows how much of the proxied latency the
stack itself costs on this machine and how much is vecbridge's own work.

    python bench/passthrough.py UPSTREAM_URL PORT
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import aiohttp
import uvloop
from aiohttp import web

SESSION = web.AppKey("session", aiohttp.ClientSession)
UPSTREAM = web.AppKey("upstream", str)


async def _forward(request: web.Request) -> web.Response:
    body = await request.read()
    async with request.app[SESSION].request(
        request.method,
        request.app[UPSTREAM] + request.raw_path,
        data=body or None,
        headers={"Content-Type": request.headers.get("Content-Type", "application/json")},
    ) as upstream:
        payload = await upstream.read()
        content_type = upstream.headers.get("Content-Type", "application/json")
        return web.Response(status=upstream.status, body=payload,
                            headers={"Content-Type": content_type})  # fmt: skip


async def _session(app: web.Application) -> AsyncIterator[None]:
    app[SESSION] = aiohttp.ClientSession(auto_decompress=False)
    yield
    await app[SESSION].close()


def main() -> None:
    upstream, port = sys.argv[1].rstrip("/"), int(sys.argv[2])
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[UPSTREAM] = upstream
    app.cleanup_ctx.append(_session)
    app.router.add_route("*", "/{tail:.*}", _forward)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None,
                loop=uvloop.new_event_loop())  # fmt: skip


if __name__ == "__main__":
    main()
