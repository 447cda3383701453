"""The operator's CLI verbs; each one is a call to the running proxy's admin API.

    vecbridge status | phase NAME [--force] | canary PCT | shadow RATE
    vecbridge rollback [--reason TEXT] [--force] | rearm | cutover [--force] | finalize [--force]
    vecbridge reload | ramp pause|resume

The token comes from ``--token``, else ``VECBRIDGE_ADMIN__TOKEN``, else the config's
``admin.token``; it is sent as a bearer token and never printed. Exit codes: 0 done,
1 refused by the proxy (the reason is printed), 2 cannot reach / not authorised / bad
input.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from proxy.cli.status_print import app_port_status, print_store_status
from proxy.core.config import Config, load_config

_WILDCARDS = ("0.0.0.0", "::", "")


class AdminCallFailed(RuntimeError):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def admin_url(config: Config) -> str:
    host = "127.0.0.1" if config.admin.host in _WILDCARDS else config.admin.host
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{config.admin.port}"


def call_admin(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    """One admin API request; raises AdminCallFailed with a one-line message."""
    config = load_config(args.config)
    url = (args.admin_url or admin_url(config)).rstrip("/") + path
    token = args.token or (config.admin.token.get_secret_value() if config.admin.token else None)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else orjson.dumps(body)
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise _http_failure(exc) from None
    except (urllib.error.URLError, OSError) as exc:
        raise AdminCallFailed(f"cannot reach the admin API at {url}: {exc}", 2) from None


def _http_failure(exc: urllib.error.HTTPError) -> AdminCallFailed:
    try:
        message = str(orjson.loads(exc.read()).get("error", exc.reason))
    except (orjson.JSONDecodeError, AttributeError):
        message = str(exc.reason)
    if exc.code == 401:
        return AdminCallFailed("unauthorized: set --token or VECBRIDGE_ADMIN__TOKEN", 2)
    if exc.code == 409:
        return AdminCallFailed(f"refused: {message}", 1)
    return AdminCallFailed(f"HTTP {exc.code}: {message}", 2)


def _print(value: Any) -> None:
    print(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def _run(args: argparse.Namespace, method: str, path: str, body: Any = None) -> int:
    try:
        _print(call_admin(args, method, path, body))
    except AdminCallFailed as exc:
        print(f"vecbridge: {exc}", file=sys.stderr)
        return exc.code
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Status through the admin API (or the app port with --url / admin disabled)."""
    config = load_config(args.config)
    if args.url or not config.admin.enabled:
        return app_port_status(args)
    try:
        status = call_admin(args, "GET", "/admin/status")
    except AdminCallFailed as exc:
        print(f"vecbridge: {exc}", file=sys.stderr)
        return exc.code
    if args.json:
        _print(status)
    else:
        print_status(status)
    return 0


def print_status(status: dict[str, Any]) -> None:
    print_store_status(status)
    canary, guard = status.get("canary", {}), status.get("guard", {})
    routing = canary.get("serving_percent")  # 100 from cutover on, whatever the canary
    print(f"canary           {canary.get('percent')}% (routing {routing}%)")
    trip = guard.get("trip")
    if trip:
        print(f"guard            TRIPPED ({trip.get('reason')}): {trip.get('detail')}")
    else:
        print(f"guard            {'armed' if guard.get('enabled') else 'disabled'}")
    ramp = status.get("ramp", {})
    if ramp.get("enabled"):
        print(f"ramp             {ramp.get('note')}")


def _common(parser: argparse.ArgumentParser, with_config: bool = True) -> None:
    if with_config:
        parser.add_argument("--config", type=Path, default=None, help="config file")
    parser.add_argument("--admin-url", help="admin API base URL (default: from the config)")
    parser.add_argument("--token", help="admin token (prefer VECBRIDGE_ADMIN__TOKEN)")


def _verb(verbs: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = verbs.add_parser(name, help=help_text)
    _common(parser)
    return parser


def _rollback(args: argparse.Namespace) -> int:
    path = "/admin/cutover/rollback" if args.force else "/admin/rollback"
    return _run(args, "POST", path, {"reason": args.reason, "force": args.force})


def register(verbs: Any) -> None:
    """Add the admin verbs to ``vecbridge``'s subparsers (called from proxy/cli/main.py)."""
    _common(verbs.choices["status"], with_config=False)
    verbs.choices["status"].set_defaults(func=cmd_status)
    verbs.choices["serve"].set_defaults(func=_cmd_serve)

    phase = _verb(verbs, "phase", "move the migration to a phase")
    phase.add_argument("name", choices=["passthrough", "mirror", "shadow", "canary", "cutover",
                                        "finalized"])  # fmt: skip
    phase.add_argument("--force", action="store_true", help="skip the safety checks")
    phase.add_argument("--reason", default=None, help="recorded with the transition")
    phase.set_defaults(
        func=lambda a: _run(
            a, "POST", "/admin/phase", {"phase": a.name, "force": a.force, "reason": a.reason}
        )
    )

    canary = _verb(verbs, "canary", "set the share of reads answered by the new store")
    canary.add_argument("percent", type=float, help="0..100")
    canary.set_defaults(func=lambda a: _run(a, "POST", "/admin/canary", {"percent": a.percent}))

    shadow = _verb(verbs, "shadow", "set the share of reads mirrored as shadow")
    shadow.add_argument("rate", type=float, help="0..1")
    shadow.set_defaults(func=lambda a: _run(a, "POST", "/admin/shadow", {"sample_rate": a.rate}))

    rollback = _verb(verbs, "rollback", "back to shadow with canary 0")
    rollback.add_argument("--reason", default=None, help="recorded and sent to the webhooks")
    rollback.add_argument(
        "--force", action="store_true",
        help="roll back from cutover even while the old store is down or behind",
    )  # fmt: skip
    rollback.set_defaults(func=_rollback)

    cutover = _verb(verbs, "cutover", "make the new store primary")
    cutover.add_argument("--force", action="store_true", help="skip the lag/validation checks")
    cutover.set_defaults(func=lambda a: _run(a, "POST", "/admin/cutover", {"force": a.force}))

    finalize = _verb(verbs, "finalize", "stop writing the old store (no way back)")
    finalize.add_argument(
        "--force", action="store_true",
        help="finalize even while the old store has not caught up with the cutover writes",
    )  # fmt: skip
    finalize.set_defaults(func=lambda a: _run(a, "POST", "/admin/finalize", {"force": a.force}))

    for name, help_text in (
        ("rearm", "re-arm a tripped guard"),
        ("reload", "re-read the config file"),
    ):
        _verb(verbs, name, help_text).set_defaults(
            func=lambda a, path=f"/admin/{name}": _run(a, "POST", path)
        )

    ramp = _verb(verbs, "ramp", "pause or resume the canary ramp")
    ramp.add_argument("action", choices=["pause", "resume"])
    ramp.set_defaults(func=lambda a: _run(a, "POST", "/admin/ramp", {"action": a.action}))


def _cmd_serve(args: argparse.Namespace) -> int:
    # Same as cli.cmd_serve, but hands the file's path on so SIGHUP can re-read it.
    from proxy.http.serve import serve

    return serve(load_config(args.config), args.config)
