"""Rollback alerts reach a real local HTTP receiver, in JSON and Slack shape, with retries."""

from __future__ import annotations

import asyncio
from pathlib import Path

from control_parts import build_parts, close_parts
from webhook_sink import WebhookSink

from proxy.core.config import Phase
from proxy.core.events import CanaryRead
from proxy.ops.webhooks import receiver


async def _until(predicate: object, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_guard_trip_alerts_every_endpoint(tmp_path: Path) -> None:
    with WebhookSink() as generic, WebhookSink() as slack:
        parts = await build_parts(
            tmp_path, Phase.CANARY, guard={"min_samples": 10},
            webhooks={"endpoints": [{"url": generic.url}, {"url": slack.url, "format": "slack"}]},
        )  # fmt: skip
        try:
            for i in range(20):
                error = "boom" if i % 4 == 0 else None
                parts.events.emit(CanaryRead("query", "c", "served", 0.01, error))
            await parts.plane.guard.check_once()
            await _until(lambda: generic.bodies and slack.bodies)
        finally:
            await close_parts(parts)
    body = generic.bodies[0]
    assert body["event"] == "rollback" and body["reason"] == "error_rate"
    assert body["automatic"] is True and body["from_phase"] == "canary"
    assert body["to_phase"] == "shadow" and "25.0%" in body["detail"]
    assert "error_rate" in slack.bodies[0]["text"]
    assert slack.bodies[0]["vecbridge"]["reason"] == "error_rate"


async def test_manual_rollback_alerts_and_delivery_retries(tmp_path: Path) -> None:
    with WebhookSink(fail_first=2) as sink:
        parts = await build_parts(
            tmp_path, Phase.CANARY, webhooks={"endpoints": [{"url": sink.url}], "retries": 3},
        )  # fmt: skip
        try:
            await parts.plane.controller.rollback("bad deploy")
            await _until(lambda: sink.bodies)
        finally:
            await close_parts(parts)
    assert sink.attempts == 3
    assert sink.bodies[0]["reason"] == "manual" and sink.bodies[0]["detail"] == "bad deploy"
    assert parts.plane.notifier.delivered == 1


def test_logs_name_only_the_receiver_host() -> None:
    url = "https://hooks.slack.com/services/T000/B000/SECRETSECRET"
    assert receiver(url) == "https://hooks.slack.com"
