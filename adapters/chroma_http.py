"""The HTTP leg of ``ChromaStore``: one aiohttp session, JSON in and out, errors translated.

Translation (done here, once)::

    connection refused / reset, timeouts, 5xx, 429  -> StoreUnavailable
    404                                             -> CollectionMissing (Chroma's message)
    other 4xx                                       -> StoreRejected (Chroma's message)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson

from adapters.base import CollectionMissing, StoreRejected, StoreUnavailable

API = "/api/v2"


def _message(status: int, body: bytes) -> str:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return f"chroma answered {status}: {body[:200].decode('utf-8', 'replace')}"
    if isinstance(data, dict) and "message" in data:
        return f"chroma answered {status} {data.get('error', '')}: {data['message']}"
    return f"chroma answered {status}: {data!r}"[:300]


class ChromaHttp:
    """JSON calls against one Chroma server's ``/api/v2``."""

    def __init__(
        self, base_url: str, headers: Mapping[str, str] | None = None, timeout: float = 30.0
    ) -> None:
        self._base = base_url.rstrip("/") + API
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # created on first use: a ClientSession must be born inside the running loop
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        return self._session

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        """Send ``body`` as JSON to ``path`` (below ``/api/v2``); the decoded JSON answer."""
        data = None if body is None else orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
        try:
            async with self._client().request(method, self._base + path, data=data) as resp:
                raw = await resp.read()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise StoreUnavailable(f"chroma unreachable: {type(exc).__name__}: {exc}") from exc
        if status >= 500 or status == 429:
            raise StoreUnavailable(_message(status, raw))
        if status == 404:
            raise CollectionMissing(_message(status, raw))
        if status >= 400:
            raise StoreRejected(_message(status, raw))
        return orjson.loads(raw) if raw else None

    async def close(self) -> None:
        """Close the session."""
        if self._session is not None:
            await self._session.close()
            self._session = None
