"""``POST /admin/cutover/rollback {"force"?, "reason"?}``: a rollback that may be forced.

The plain ``/admin/rollback`` is refused while the old store is down or behind (see
proxy/writes/cutover.py); this route can override that, accepting that the old store gets the
remaining cutover writes later, after writes it takes as primary again.
"""

from __future__ import annotations

from aiohttp import web

from proxy.core.config import Phase
from proxy.ops.admin_routes import Handler, _body, _json, proxy_of


async def post_cutover_rollback(request: web.Request) -> web.Response:
    body = await _body(request)
    proxy = proxy_of(request)
    reason = str(body.get("reason") or "operator rollback")
    cutover = proxy.cutover
    cutover.force_rollback = bool(body.get("force", False))
    try:
        previous = await proxy.control.controller.rollback(reason)
    finally:
        cutover.force_rollback = False
    return _json({"from": previous.value, "to": Phase.SHADOW.value, "reason": reason,
                  "forced": bool(body.get("force", False))})  # fmt: skip


ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("POST", "/admin/cutover/rollback", post_cutover_rollback),
)
