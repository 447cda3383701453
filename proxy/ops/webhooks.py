"""Alerts: every rollback (automatic or manual) is POSTed as JSON to the configured webhooks.

Two payload shapes: ``json`` (the event's fields, for any receiver) and ``slack`` (a
``text`` line plus the same fields under ``vecbridge``, accepted by Slack-compatible
incoming webhooks). Delivery runs in the background with retries and a timeout: an
unreachable receiver never slows the proxy or blocks a rollback. Webhook URLs often
carry a secret, so logs name only the receiver's host.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from proxy.core.config import WebhookEndpoint, WebhooksConfig
from proxy.core.events import EventBus, GuardTripped
from proxy.core.tasks import TaskGroup

log = logging.getLogger("vecbridge.webhooks")


def alert_payload(event: GuardTripped, instance: str) -> dict[str, Any]:
    """The generic JSON body of a rollback alert."""
    return {
        "event": "rollback",
        "automatic": event.automatic,
        "reason": event.reason,
        "detail": event.detail,
        "from_phase": event.phase,
        "to_phase": "shadow",
        "instance": instance,
        "at": time.time(),
    }


def slack_payload(body: dict[str, Any]) -> dict[str, Any]:
    """Slack-compatible: a one-line ``text``, the structured fields alongside."""
    how = "automatic rollback" if body["automatic"] else "manual rollback"
    text = (
        f":rotating_light: vecbridge {how} on {body['instance']}: "
        f"{body['from_phase']} -> {body['to_phase']} ({body['reason']}: {body['detail']})"
    )
    return {"text": text, "vecbridge": body}


def receiver(url: str) -> str:
    """What a log line may say about a webhook URL (scheme and host only)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}"


class Notifier:
    """Sends rollback alerts to every configured endpoint."""

    def __init__(self, config: WebhooksConfig, instance: str | None = None) -> None:
        self.config = config
        self.instance = instance or socket.gethostname()
        self._tasks = TaskGroup("webhooks", limit=64)
        self.delivered = 0
        self.failed = 0

    def update(self, config: WebhooksConfig) -> None:
        self.config = config

    def subscribe(self, bus: EventBus) -> None:
        bus.subscribe(GuardTripped, self.alert)

    def alert(self, event: GuardTripped) -> None:
        """Queue one POST per endpoint (called from the event bus; never blocks)."""
        body = alert_payload(event, self.instance)
        for endpoint in self.config.endpoints:
            payload = slack_payload(body) if endpoint.format == "slack" else body
            self._tasks.spawn(self.deliver(endpoint, payload), name=f"alert:{event.reason}")

    async def deliver(self, endpoint: WebhookEndpoint, payload: dict[str, Any]) -> bool:
        """POST with retries and backoff; True when a receiver answered 2xx."""
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_seconds)
        delay = 0.2
        for attempt in range(self.config.retries + 1):
            try:
                async with (
                    aiohttp.ClientSession(timeout=timeout) as session,
                    session.post(endpoint.url, json=payload) as response,
                ):
                    if response.status < 300:
                        self.delivered += 1
                        return True
                    problem = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = type(exc).__name__
            log.warning(
                "webhook %s failed (%s), attempt %d", receiver(endpoint.url), problem, attempt + 1
            )
            if attempt < self.config.retries:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self.failed += 1
        return False

    async def close(self) -> None:
        await self._tasks.cancel_all()
