"""Admin routes of the migration verbs, for targets only the proxy can open (local mode).

    POST /admin/backfill  {"collections"?, "options"?}   start a backfill (409 if one runs,
                                                         or in phase passthrough)
    GET  /admin/backfill                                 progress of the current/last one
    POST /admin/validate  {"collections"?, "options"?}   run a validation, return the report

"""

from __future__ import annotations

from aiohttp import web

from proxy.migration.backfill import BackfillError
from proxy.migration.backfill_phase import backfill_refusal
from proxy.ops.admin_routes import Handler, _body, _json, proxy_of
from proxy.ops.background_runs import backfill_progress, run_validation, start_backfill


async def post_backfill(request: web.Request) -> web.Response:
    body = await _body(request)
    proxy = proxy_of(request)
    refusal = backfill_refusal(proxy.phases.current)
    if refusal is not None:
        return _json({"error": refusal}, status=409)
    try:
        progress = await start_backfill(proxy, body.get("collections"), body.get("options") or {})
    except BackfillError as exc:
        return _json({"error": str(exc)}, status=409)
    return _json(progress, status=202)


async def get_backfill(request: web.Request) -> web.Response:
    return _json(backfill_progress(proxy_of(request)))


async def post_validate(request: web.Request) -> web.Response:
    body = await _body(request)
    try:
        report = await run_validation(proxy_of(request), body.get("options") or {},
                                      body.get("collections"))
    except BackfillError as exc:  # unknown collection
        return _json({"error": str(exc)}, status=400)
    return _json(report)


ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("POST", "/admin/backfill", post_backfill),
    ("GET", "/admin/backfill", get_backfill),
    ("POST", "/admin/validate", post_validate),
)
