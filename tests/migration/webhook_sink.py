"""A local HTTP server that records the JSON bodies POSTed to it (a webhook receiver)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import orjson
from aiohttp import web

from proxy.upstream.embedded_chroma import free_port


class WebhookSink:
    """Runs in its own thread (so it also serves a proxy child process)."""

    def __init__(self, fail_first: int = 0) -> None:
        self.port = free_port()
        self.bodies: list[dict[str, Any]] = []
        self.attempts = 0
        self._fail_first = fail_first
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        if self.attempts <= self._fail_first:
            return web.Response(status=500)
        self.bodies.append(orjson.loads(await request.read()))
        return web.Response(text="ok")

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        self._loop.run_until_complete(site.start())
        self._ready.set()
        self._loop.run_forever()

    def __enter__(self) -> WebhookSink:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            assert self._runner is not None
            await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
