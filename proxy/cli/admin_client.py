"""Client of a running proxy's admin API, for verbs that cannot open the target.

Qdrant local mode lets one process open the target; while the proxy holds it, backfill
and validate run inside the proxy: ``POST /admin/backfill`` starts one, ``GET
/admin/backfill`` reports progress, ``POST /admin/validate`` returns the report.
Authenticated with the bearer token of ``admin.token`` (or VECBRIDGE_ADMIN__TOKEN).
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import orjson

from proxy.core.config import Config
from proxy.migration.backfill import BackfillOptions
from proxy.migration.validate import ValidationOptions

POLL_SECONDS = 0.5


class AdminUnavailable(RuntimeError):
    """The admin API refused or failed a call; the message says how."""


class AdminClient:
    """Blocking HTTP calls to the admin API, run in a thread from async code."""

    def __init__(self, base_url: str, token: str | None) -> None:
        self.base_url = base_url
        self.token = token

    @classmethod
    def from_config(cls, config: Config) -> AdminClient:
        host = config.admin.host if config.admin.host not in ("0.0.0.0", "::") else "127.0.0.1"
        token = config.admin.token.get_secret_value() if config.admin.token else None
        return cls(f"http://{host}:{config.admin.port}", token)

    def _call(self, method: str, path: str, body: Any = None, timeout: float = 30.0) -> Any:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None if body is None else orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
        request = urllib.request.Request(self.base_url + path, data=data, method=method,
                                         headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return orjson.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            raise AdminUnavailable(f"admin API {method} {path}: {exc.code} {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise AdminUnavailable(f"admin API at {self.base_url} unreachable: {exc}") from None

    def answers(self) -> bool:
        """True when the proxy's admin API serves the backfill route."""
        try:
            self._call("GET", "/admin/backfill", timeout=3.0)
        except AdminUnavailable:
            return False
        return True

    async def backfill(self, collections: Sequence[str] | None, options: BackfillOptions,
                       on_progress: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Start a backfill in the proxy and follow it until it ends."""
        body = {"collections": collections, "options": asdict(options)}
        await asyncio.to_thread(self._call, "POST", "/admin/backfill", body)
        while True:
            progress: dict[str, Any] = await asyncio.to_thread(self._call, "GET",
                                                               "/admin/backfill")
            on_progress(progress)
            if not progress.get("running"):
                return progress
            await asyncio.sleep(POLL_SECONDS)

    async def validate(self, collections: Sequence[str] | None,
                       options: ValidationOptions) -> dict[str, Any]:
        """Run a validation inside the proxy; returns its report."""
        fields = {k: v for k, v in asdict(options).items() if v is not None}
        if options.query_vectors is not None:
            fields["query_vectors"] = [np.asarray(v).tolist() for v in options.query_vectors]
        if options.mismatch_file is not None:
            fields["mismatch_file"] = str(options.mismatch_file)
        body = {"collections": collections, "options": fields}
        report: dict[str, Any] = await asyncio.to_thread(
            self._call, "POST", "/admin/validate", body, 3600.0)
        return report
