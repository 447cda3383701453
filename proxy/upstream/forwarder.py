"""Raw forwarding of an app request to the primary store, and of its answer back.

Method, path, query string, body bytes and end-to-end headers go through untouched;
hop-by-hop headers do not. The response's status, headers and body come back as the
primary sent them (compressed bodies stay compressed: the upstream session does not
decompress). One pooled ``ClientSession`` per upstream.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from proxy.core.events import EventBus, UpstreamCalled

# RFC 9110 section 7.6.1, plus the headers aiohttp recomputes for the new hop.
HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "TE",
        "Trailer", "Transfer-Encoding", "Upgrade", "Proxy-Connection", "Host", "Content-Length",
    )
)  # fmt: skip
# Headers aiohttp would add on its own; the app's request must reach the primary as sent.
AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


class UpstreamUnavailable(Exception):
    """The primary could not be reached or did not answer in time."""

    def __init__(self, message: str, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


@dataclass(frozen=True)
class UpstreamResponse:
    status: int
    headers: CIMultiDict[str]
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def end_to_end_headers(headers: CIMultiDictProxy[str] | CIMultiDict[str]) -> CIMultiDict[str]:
    """A copy of ``headers`` without hop-by-hop ones (including those named in Connection)."""
    dropped = HOP_BY_HOP
    if "Connection" in headers:
        dropped = HOP_BY_HOP | {
            token.strip().lower()
            for value in headers.getall("Connection")
            for token in value.split(",")
        }
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in dropped)


class Forwarder:
    """Sends requests to one upstream store over a pooled session."""

    def __init__(
        self,
        base_url: str,
        events: EventBus,
        store: str = "source",
        pool_size: int = 128,
        connect_timeout: float = 5.0,
        request_timeout: float = 120.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.store = store
        self._events = events
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=pool_size, ttl_dns_cache=300),
            timeout=aiohttp.ClientTimeout(total=request_timeout, connect=connect_timeout),
            auto_decompress=False,
            skip_auto_headers=AUTO_HEADERS,
            # A proxy must not remember one app's cookies and replay them for another.
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def close(self) -> None:
        await self._session.close()

    async def send(
        self,
        method: str,
        path_qs: str,
        headers: CIMultiDict[str],
        body: bytes | None,
        route: str = "other",
    ) -> UpstreamResponse:
        """One request to the upstream; raises UpstreamUnavailable on network failure."""
        started = time.perf_counter()
        try:
            async with self._session.request(
                method,
                # encoded=True: the app's path and query go out byte for byte, not re-quoted
                URL(self.base_url + path_qs, encoded=True),
                headers=headers,
                data=body if body else None,
                allow_redirects=False,
            ) as resp:
                payload = await resp.read()
                result = UpstreamResponse(resp.status, end_to_end_headers(resp.headers), payload)
        except TimeoutError as exc:
            raise UpstreamUnavailable(f"{self.store} timed out", timed_out=True) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(f"{self.store} unreachable: {exc}") from exc
        finally:
            self._events.emit(UpstreamCalled(self.store, route, time.perf_counter() - started))
        return result

    async def healthy(self, path: str = "/api/v2/heartbeat") -> bool:
        try:
            resp = await self.send("GET", path, CIMultiDict(), None, route="heartbeat")
        except UpstreamUnavailable:
            return False
        return resp.ok


def inflate(body: bytes, encoding: str) -> bytes:
    """``body`` without its gzip/deflate Content-Encoding (unchanged when plain or unknown)."""
    encoding = encoding.strip().lower()
    if encoding not in ("gzip", "deflate"):
        return body
    try:
        return zlib.decompress(body, 31 if encoding == "gzip" else 15)
    except zlib.error:
        return body
