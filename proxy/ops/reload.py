"""Config hot reload: on SIGHUP, on a change of the file, or from the admin API.

The file is loaded and validated exactly as at start-up (environment overrides too). An
invalid file is rejected with the key path and the config in force stays untouched. A
valid one applies its hot keys at once, in one synchronous step on the event loop (no
request can see half of it): canary share and stickiness, shadow sample rate, guard
rules, ramp schedule, webhooks, reload interval. Other changed keys (ports, paths,
stores...) need a restart: they are reported, not applied.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from proxy.core.config import Config, ConfigError, load_config

log = logging.getLogger("vecbridge.reload")

CONFIG_PATH_KEY = web.AppKey("config_path", Path)
# Dotted key prefixes that apply without a restart.
HOT_KEYS = ("canary.", "shadow.sample_rate", "guard.", "webhooks.", "reload.")


@dataclass(frozen=True)
class ReloadResult:
    """What a reload did: ``ok`` with the applied keys, or the error that rejected it."""

    ok: bool
    source: str
    error: str | None = None
    applied: tuple[str, ...] = ()
    restart_required: tuple[str, ...] = ()
    at: float = field(default_factory=time.time)


def changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted paths of leaves that differ between two config dumps."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys: list[str] = []
        for key in sorted(set(old) | set(new)):
            keys += changed_keys(old.get(key), new.get(key), f"{prefix}{key}.")
        return keys
    return [] if old == new else [prefix.rstrip(".")]


def merge_hot(old: Config, new: Config) -> Config:
    """``old`` with the hot keys of ``new``: what is in force after a reload."""
    shadow = old.shadow.model_copy(update={"sample_rate": new.shadow.sample_rate})
    return old.model_copy(
        update={
            "canary": new.canary, "shadow": shadow, "guard": new.guard,
            "webhooks": new.webhooks, "reload": new.reload,
        }
    )  # fmt: skip


def _dump(config: Config) -> dict[str, Any]:
    # Secrets compare by value but never leave this function.
    data = config.model_dump(mode="json")
    for section, key in (("target", "api_key"), ("admin", "token")):
        secret = getattr(getattr(config, section), key)
        data[section][key] = None if secret is None else secret.get_secret_value()
    return data


class Reloader:
    """Loads the config file and hands a valid result to ``apply``."""

    def __init__(
        self, path: Path | None, current: Config, apply: Callable[[Config, Config], None]
    ) -> None:
        self.path = path
        self.current = current
        self._apply = apply  # (old, new) -> None; must not await
        self.last: ReloadResult | None = None
        self._fingerprint = self._read_fingerprint()

    def reload(self, source: str) -> ReloadResult:
        """Load, validate and apply; never raises for a bad file."""
        if self.path is None:
            return self._done(ReloadResult(False, source, "no config file: started on defaults"))
        self._fingerprint = self._read_fingerprint()
        try:
            new = load_config(self.path)
        except ConfigError as exc:
            log.error("config reload (%s) rejected, keeping the running config: %s", source, exc)
            return self._done(ReloadResult(False, source, str(exc)))
        changed = changed_keys(_dump(self.current), _dump(new))
        hot = tuple(k for k in changed if k.startswith(HOT_KEYS))
        cold = tuple(k for k in changed if not k.startswith(HOT_KEYS))
        merged = merge_hot(self.current, new)
        self._apply(self.current, merged)
        self.current = merged
        if cold:
            log.warning("config reload (%s): restart needed for %s", source, ", ".join(cold))
        log.info("config reload (%s) applied: %s", source, ", ".join(hot) or "no changes")
        return self._done(ReloadResult(True, source, None, hot, cold))

    def _done(self, result: ReloadResult) -> ReloadResult:
        self.last = result
        return result

    def _read_fingerprint(self) -> str | None:
        if self.path is None:
            return None
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return None

    def file_changed(self) -> bool:
        fingerprint = self._read_fingerprint()
        return fingerprint is not None and fingerprint != self._fingerprint

    async def watch(self) -> None:
        """Reload when the file's content changes (editors, ConfigMap updates)."""
        while True:
            interval = self.current.reload.watch_seconds
            await asyncio.sleep(interval or 5.0)
            if interval is not None and self.file_changed():
                self.reload("file")

    def status(self) -> dict[str, Any]:
        last = self.last
        return {
            "path": None if self.path is None else str(self.path),
            "last": None if last is None else last.__dict__,
        }
