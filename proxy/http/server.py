"""The proxy's HTTP server: one request's way through it, and the lifecycle of its parts.

A request is classified by the Chroma dialect; writes go through the dual-write
pipeline, everything else is forwarded raw to the primary; the primary's answer goes
back to the app unchanged. ``/-/status``, ``/-/ready``, ``/-/live`` and ``/metrics`` are
the proxy's own. Parts are opened and closed in ``cleanup_ctx`` order.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import time
from collections.abc import AsyncIterator

import orjson
from aiohttp import web

from adapters.base import VectorStore
from adapters.faults import FaultyStore
from proxy.core.config import Config
from proxy.core.events import EventBus, RequestHandled
from proxy.core.live import LiveSettings
from proxy.core.phases import NEW_STORE_PRIMARY, Phases
from proxy.core.state import StateStore
from proxy.core.tasks import TaskGroup
from proxy.dialects.chroma.routes import classify
from proxy.http.cutover_wiring import install_cutover
from proxy.journal.applier import Applier
from proxy.journal.journal import Journal
from proxy.journal.pruner import JournalPruner
from proxy.migration.backfill import checkpoint_path
from proxy.migration.backfill_state import backfill_floor
from proxy.migration.cutover_coverage import check_coverage
from proxy.ops.control_plane import build_control
from proxy.ops.health import HealthMonitor
from proxy.ops.metrics import Metrics
from proxy.ops.reload import CONFIG_PATH_KEY
from proxy.ops.running import PROXY_KEY, Proxy
from proxy.reads.path import ReadPath
from proxy.upstream.forwarder import (
    Forwarder,
    UpstreamResponse,
    UpstreamUnavailable,
    end_to_end_headers,
)
from proxy.upstream.target import open_target
from proxy.writes.pipeline import WritePipeline

log = logging.getLogger("vecbridge.server")




def chroma_error(status: int, name: str, message: str) -> web.Response:
    """An error in Chroma's own shape, so the chromadb client raises a sensible exception."""
    return web.Response(
        status=status,
        body=orjson.dumps({"error": name, "message": message}),
        content_type="application/json",
    )


def _to_response(upstream: UpstreamResponse) -> web.Response:
    return web.Response(status=upstream.status, body=upstream.body, headers=upstream.headers)


def _outcome(status: int) -> str:
    if status < 400:
        return "ok"
    if status == 413:
        return "too_large"
    return "client_error" if status < 500 else "server_error"


async def handle_app_request(request: web.Request) -> web.StreamResponse:
    """Every app request: classify, forward (dual-writing writes), answer as the primary did."""
    proxy = request.app[PROXY_KEY]
    started = time.perf_counter()
    route = classify(request.method, request.path)
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        limit = proxy.config.limits.max_body_bytes
        response = chroma_error(413, "PayloadTooLarge", f"request body exceeds {limit} bytes")
        _record(proxy, route.name, response.status, started)
        return response
    headers = end_to_end_headers(request.headers)
    try:
        if route.is_write:
            upstream = await proxy.writes.handle(
                route, request.method, request.raw_path, headers, body
            )
        else:
            upstream = await proxy.reads.handle(
                route, request.method, request.raw_path, headers, body
            )
    except UpstreamUnavailable as exc:
        status = 504 if exc.timed_out else 502
        response = chroma_error(status, "UpstreamUnavailable", f"vecbridge: {exc}")
        proxy.events.emit(RequestHandled(route.name, "unavailable", time.perf_counter() - started))
        return response
    _record(proxy, route.name, upstream.status, started)
    return _to_response(upstream)


def _record(proxy: Proxy, route: str, status: int, started: float) -> None:
    proxy.events.emit(RequestHandled(route, _outcome(status), time.perf_counter() - started))


async def handle_status(request: web.Request) -> web.Response:
    """``/-/status``: the public view; the whole document is ``/admin/status``."""
    from proxy.ops.status import build_public_status

    return web.json_response(await build_public_status(request.app[PROXY_KEY]), dumps=_dumps)


async def handle_metrics(request: web.Request) -> web.Response:
    proxy = request.app[PROXY_KEY]
    proxy.metrics.set_journal(await proxy.journal.stats())
    proxy.metrics.set_phase(proxy.phases.current)
    return web.Response(
        body=proxy.metrics.render(), headers={"Content-Type": "text/plain; version=0.0.4"}
    )


async def handle_shadow(request: web.Request) -> web.Response:
    """Shadow comparison totals, the noise floor and the worst mismatches kept."""
    return web.json_response(request.app[PROXY_KEY].reads.snapshot(), dumps=_dumps)


async def handle_live(request: web.Request) -> web.Response:
    return web.json_response({"live": True})


async def handle_ready(request: web.Request) -> web.Response:
    """Ready while the store that answers the app is: the old one until cutover, then the new
    one (after cutover the old store may be down or switched off)."""
    proxy = request.app[PROXY_KEY]
    answering = proxy.health.target if proxy.phases.current in NEW_STORE_PRIMARY else (
        proxy.health.source
    )
    ready = answering.healthy
    return web.json_response({"ready": ready}, status=200 if ready else 503)


async def handle_faults(request: web.Request) -> web.Response:
    proxy = request.app[PROXY_KEY]
    if not isinstance(proxy.target, FaultyStore):
        return web.json_response({"error": "fault injection is disabled"}, status=404)
    try:
        changes = orjson.loads(await request.read())
        proxy.target.settings = proxy.target.settings.updated(**changes)
    except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response(proxy.target.settings.__dict__)


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    config: Config = app[CONFIG_KEY]
    source_url: str = app[SOURCE_URL_KEY]
    events = EventBus()
    metrics = Metrics(config.metrics.max_collection_labels)
    metrics.subscribe(events)
    journal = await Journal(
        config.journal.path, config.journal.group_commit_max, config.journal.intent_fsync
    ).open()
    state = StateStore(config.migration.state_path)
    phases = Phases(state, config.migration.initial_phase)
    live = LiveSettings(state, config, events)
    up = config.upstream
    primary = Forwarder(
        source_url, events, "source", up.pool_size, up.connect_timeout_seconds,
        up.request_timeout_seconds,
    )  # fmt: skip
    target: VectorStore = await open_target(config.target)
    if config.faults.enabled:
        target = FaultyStore(target)
    writes = WritePipeline(primary, journal, events, lambda: phases.dual_write)
    reads = ReadPath(
        primary, events, live, target, config, noise_every=config.shadow.noise_floor_every
    )
    applier = Applier(journal, target, events, config.applier)
    health = HealthMonitor(primary, target, metrics)
    tasks = TaskGroup("proxy")
    proxy = Proxy(
        config, source_url, events, metrics, journal, state, phases, primary, target, writes,
        reads, applier, health, tasks, time.time(),
    )  # fmt: skip
    proxy.live = live
    proxy.control = build_control(
        config, app.get(CONFIG_PATH_KEY), state, phases, live, journal, events
    )
    proxy.control.config_sinks.append(lambda new: setattr(proxy, "config", new))
    proxy.cutover = install_cutover(proxy)
    proxy.control.controller.cutover_checks.append(
        functools.partial(check_coverage, proxy.cutover.old_store, target)
    )

    app[PROXY_KEY] = proxy
    await health.check_once()
    recovered = await writes.recover()
    if recovered:
        log.warning("re-captured %d writes left unjournaled by the last stop", recovered)
    if await proxy.cutover.records.recover():
        log.warning("journaled for the old store cutover writes left open by the last stop")
    tasks.spawn(applier.run(), name="applier")
    tasks.spawn(proxy.cutover.reverse.run(), name="reverse-applier")
    tasks.spawn(proxy.cutover.recover_loop(), name="cutover-recovery")
    tasks.spawn(health.run(), name="health")
    tasks.spawn(reads.run(), name="shadow-reads")
    tasks.spawn(_recover_loop(writes), name="intent-recovery")
    checkpoints = checkpoint_path(config.journal.path)
    pruner = JournalPruner(
        journal, config.journal.retain_applied, events, lambda: backfill_floor(checkpoints)
    )
    tasks.spawn(pruner.run(config.journal.prune_interval_seconds), name="journal-pruner")
    proxy.control.spawn(tasks)
    # Everything built so far lives as long as the process: move it out of the cyclic
    # collector's generations so collections triggered by request garbage stay cheap.
    gc.freeze()
    try:
        yield
    finally:
        await tasks.cancel_all()
        await proxy.control.close()
        await proxy.cutover.close()
        await primary.close()
        await target.close()
        await journal.close()
        state.close()


async def _recover_loop(writes: WritePipeline, interval: float = 5.0) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await writes.recover()
        except Exception:
            log.exception("intent recovery failed; will retry")


CONFIG_KEY = web.AppKey("config", Config)
SOURCE_URL_KEY = web.AppKey("source_url", str)


def build_app(config: Config, source_url: str) -> web.Application:
    """The aiohttp application of one proxy; parts open when the app starts."""
    app = web.Application(client_max_size=config.limits.max_body_bytes)
    app[CONFIG_KEY] = config
    app[SOURCE_URL_KEY] = source_url
    app.cleanup_ctx.append(_lifecycle)
    app.router.add_get("/-/status", handle_status)
    app.router.add_get("/-/live", handle_live)
    app.router.add_get("/-/shadow", handle_shadow)
    app.router.add_get("/-/ready", handle_ready)
    app.router.add_post("/-/faults", handle_faults)
    app.router.add_get("/metrics", handle_metrics)
    app.router.add_route("*", "/{tail:.*}", handle_app_request)
    return app
