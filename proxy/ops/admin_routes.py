"""What every admin route shares: the app key of the main app, the running proxy of a
request, and JSON in and out (errors are mapped by the admin app's middleware)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from proxy.ops.running import PROXY_KEY, Proxy

MAIN_APP_KEY = web.AppKey("main_app", web.Application)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def proxy_of(request: web.Request) -> Proxy:
    """The running proxy, from an admin request."""
    return request.app[MAIN_APP_KEY][PROXY_KEY]


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    value = orjson.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("the body must be a JSON object")
    return value
