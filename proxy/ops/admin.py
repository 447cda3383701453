"""The admin API: the operator's HTTP interface, on its own port (``config.admin``).

Routes (JSON in, JSON out; errors are ``{"error": "..."}``):

    GET  /admin/status                          the whole status document
    POST /admin/phase     {"phase", "force"?, "reason"?}
    POST /admin/canary    {"percent"}           0..100
    POST /admin/shadow    {"sample_rate"}       0..1
    POST /admin/rollback  {"reason"?}           canary/cutover -> shadow, canary 0
    POST /admin/rearm                           clear a tripped guard
    POST /admin/cutover   {"force"?}            refused while lag > 0 or validation failed
    POST /admin/finalize {"force"?}             cutover -> finalized
    POST /admin/reload                          re-read the config file
    POST /admin/ramp      {"action": "pause"|"resume"}

A refused action answers 409 with the reason, bad input 400, a missing or wrong
bearer token 401. Other parts add routes with :func:`add_admin_route` before the app
starts (e.g. ``/admin/backfill``); auth and error handling apply to them too.

With a token configured every route needs ``Authorization: Bearer <token>``
(constant-time compare; the token is never logged). Without a token the API only
starts on a loopback address.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from typing import Any

import orjson
from aiohttp import web

from proxy.core.config import AdminConfig, Phase
from proxy.core.phases import ROLLBACK_FROM, IllegalTransition
from proxy.ops import admin_cutover, admin_migration
from proxy.ops.admin_routes import MAIN_APP_KEY, Handler, _body, _json, proxy_of

log = logging.getLogger("vecbridge.admin")



class AdminRefused(RuntimeError):
    """The admin API must not start with this configuration."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def admin_token(config: AdminConfig) -> str | None:
    """The configured token; an empty one counts as none (it would match "Bearer ")."""
    token = None if config.token is None else config.token.get_secret_value().strip()
    return token or None


def check_admin_bind(config: AdminConfig) -> None:
    """Refuse a non-loopback admin address without a token (off by default there)."""
    if admin_token(config) is None and not is_loopback(config.host):
        raise AdminRefused(
            f"admin API not started: {config.host} is not a loopback address and no token "
            "is set (set admin.token or VECBRIDGE_ADMIN__TOKEN)"
        )


def _auth_middleware(token: str | None) -> Any:
    expected = None if token is None else f"Bearer {token}".encode()

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if expected is not None:
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return web.Response(
                    body=orjson.dumps({"error": "unauthorized"}), status=401,
                    content_type="application/json",
                    headers={"WWW-Authenticate": 'Bearer realm="vecbridge-admin"'},
                )  # fmt: skip
        try:
            return await handler(request)
        except IllegalTransition as exc:
            return _json({"error": str(exc)}, 409)
        except (ValueError, TypeError, KeyError) as exc:
            return _json({"error": f"bad request: {exc}"}, 400)

    return auth


_EXTRA_ROUTES: list[tuple[str, str, Handler]] = []


def add_admin_route(method: str, path: str, handler: Handler) -> None:
    """Register a route of another part (call at import time, before the app is built).

    The handler gets the proxy with :func:`proxy_of`; IllegalTransition -> 409 and
    ValueError/TypeError/KeyError -> 400 apply to it too.
    """
    _EXTRA_ROUTES.append((method, path, handler))


async def get_status(request: web.Request) -> web.Response:
    from proxy.ops.status import build_status

    return _json(await build_status(proxy_of(request)))


async def post_phase(request: web.Request) -> web.Response:
    body = await _body(request)
    target = Phase(str(body["phase"]))
    force = bool(body.get("force", False))
    reason = str(body.get("reason") or "operator")
    control = proxy_of(request).control
    # 'phase shadow' from canary/cutover IS a rollback: canary 0, reason recorded, alert.
    if target is Phase.SHADOW and control.controller.phases.current in ROLLBACK_FROM:
        previous = await control.controller.rollback(reason)
    else:
        previous = await control.controller.move_to(target, force=force, reason=reason)
    return _json({"from": previous.value, "to": target.value, "forced": force})


async def post_canary(request: web.Request) -> web.Response:
    percent = float((await _body(request))["percent"])
    control = proxy_of(request).control
    applied = await control.controller.set_canary(percent, source="operator")
    values = control.live.values
    return _json({"percent": applied, "active_percent": values.canary_active_percent,
                  "phase": values.phase.value})  # fmt: skip


async def post_shadow(request: web.Request) -> web.Response:
    rate = float((await _body(request))["sample_rate"])
    values = proxy_of(request).control.live.set_shadow_sample_rate(rate, source="operator")
    return _json({"sample_rate": values.shadow_sample_rate})


async def post_rollback(request: web.Request) -> web.Response:
    reason = str((await _body(request)).get("reason") or "operator rollback")
    previous = await proxy_of(request).control.controller.rollback(reason)
    return _json({"from": previous.value, "to": Phase.SHADOW.value, "reason": reason})


async def post_rearm(request: web.Request) -> web.Response:
    cleared = proxy_of(request).control.guard.rearm()
    return _json({"rearmed": True, "cleared": cleared})


async def post_cutover(request: web.Request) -> web.Response:
    force = bool((await _body(request)).get("force", False))
    previous = await proxy_of(request).control.controller.move_to(
        Phase.CUTOVER, force=force, reason="cutover" + (" (forced)" if force else "")
    )
    return _json({"from": previous.value, "to": Phase.CUTOVER.value, "forced": force})


async def post_finalize(request: web.Request) -> web.Response:
    """cutover -> finalized, once the old store has every cutover write (``force``: even if
    it has not caught up within the drain timeout; it still gets them later if it answers)."""
    force = bool((await _body(request)).get("force", False))
    proxy = proxy_of(request)
    proxy.cutover.force_finalize = force
    try:
        previous = await proxy.control.controller.move_to(
            Phase.FINALIZED, reason="finalize" + (" (forced)" if force else "")
        )
    finally:
        proxy.cutover.force_finalize = False
    return _json({"from": previous.value, "to": Phase.FINALIZED.value, "forced": force})


async def post_reload(request: web.Request) -> web.Response:
    result = proxy_of(request).control.reloader.reload("admin")
    return _json(result.__dict__, 200 if result.ok else 400)


async def post_ramp(request: web.Request) -> web.Response:
    action = str((await _body(request))["action"])
    ramp = proxy_of(request).control.ramp
    if action == "pause":
        ramp.pause()
    elif action == "resume":
        await ramp.resume()
    else:
        raise ValueError("action must be pause or resume")
    return _json(ramp.status())


def build_admin_app(main_app: web.Application, token: str | None) -> web.Application:
    """The admin application; it reaches the proxy through ``main_app`` at request time."""
    app = web.Application(middlewares=[_auth_middleware(token)], client_max_size=1024 * 1024)
    app[MAIN_APP_KEY] = main_app
    app.router.add_get("/admin/status", get_status)
    routes: tuple[tuple[str, Handler], ...] = (
        ("phase", post_phase), ("canary", post_canary), ("shadow", post_shadow),
        ("rollback", post_rollback), ("rearm", post_rearm), ("cutover", post_cutover),
        ("finalize", post_finalize), ("reload", post_reload), ("ramp", post_ramp),
    )  # fmt: skip
    for path, handler in routes:
        app.router.add_post(f"/admin/{path}", handler)
    for method, path, handler in (*admin_cutover.ROUTES, *admin_migration.ROUTES, *_EXTRA_ROUTES):
        app.router.add_route(method, path, handler)
    return app


async def start_admin(main_app: web.Application, config: AdminConfig) -> web.AppRunner | None:
    """Serve the admin API next to the app, or log why not; returns its runner."""
    if not config.enabled:
        return None
    try:
        check_admin_bind(config)
    except AdminRefused as exc:
        log.error("%s", exc)
        return None
    token = admin_token(config)
    runner = web.AppRunner(build_admin_app(main_app, token), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, config.host, config.port).start()
    except OSError as exc:
        # The app keeps serving: losing the admin API must not take the migration down.
        log.error("admin API not started on %s:%d: %s", config.host, config.port, exc.strerror)
        await runner.cleanup()
        return None
    log.info("admin API on http://%s:%d (token %s)", config.host, config.port,
             "required" if token else "not set: loopback only")  # fmt: skip
    return runner
