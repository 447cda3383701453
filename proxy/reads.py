"""The read path: every read the app makes goes through :class:`ReadPath`.

Today it forwards to the primary. Shadow comparison and canary routing plug in here,
off the critical path: the app's answer never waits on the secondary unless the read
was routed to it as canary.
"""

from __future__ import annotations

from multidict import CIMultiDict

from proxy.dialects.chroma import Route
from proxy.forwarder import Forwarder, UpstreamResponse


class ReadPath:
    """Answers app reads (and unknown requests) from the primary."""

    def __init__(self, primary: Forwarder) -> None:
        self._primary = primary

    async def handle(
        self, route: Route, method: str, path_qs: str, headers: CIMultiDict[str], body: bytes
    ) -> UpstreamResponse:
        return await self._primary.send(method, path_qs, headers, body, route=route.name)
