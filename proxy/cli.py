"""The ``vecbridge`` command line.

``vecbridge serve --config PATH`` runs the proxy; the other verbs talk to a running
proxy or to the stores directly. Every verb exits non-zero with a one-line message on
failure.
"""

from __future__ import annotations

import argparse
import logging
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import orjson

from proxy import admin_cli, migrate_cli
from proxy.config import Config, ConfigError, load_config

log = logging.getLogger("vecbridge")

Command = Callable[[argparse.Namespace], int]


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, default=None,
        help="config file (default: the embedded default, same as the shipped config.yaml)",
    )  # fmt: skip


def cmd_serve(args: argparse.Namespace) -> int:
    from proxy.serve import serve

    config = load_config(args.config)
    return serve(config)


def _proxy_url(config: Config) -> str:
    host = config.listen.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://{host}:{config.listen.port}"


def cmd_status(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    url = args.url or _proxy_url(config)
    try:
        with urllib.request.urlopen(f"{url}/-/status", timeout=10) as resp:
            status = orjson.loads(resp.read())
    except (urllib.error.URLError, OSError) as exc:
        print(f"vecbridge: cannot reach the proxy at {url}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(orjson.dumps(status, option=orjson.OPT_INDENT_2).decode())
    else:
        _print_status(status)
    return 0


def _print_status(status: dict[str, object]) -> None:
    journal = status["journal"]
    assert isinstance(journal, dict)
    print(f"phase            {status['phase']}")
    for side in ("source", "target"):
        info = status[side]
        assert isinstance(info, dict)
        where = info.get("url") or info.get("path")
        print(f"{side:<16} {info['engine']} {where} healthy={info['healthy']}")
    print(f"journal head     {journal['head']}  applied {journal['applied_position']}")
    print(f"journal lag      {journal['lag_entries']} entries, {journal['lag_seconds']} s")
    reverse = journal.get("reverse")
    if isinstance(reverse, dict) and (reverse.get("head") or status["phase"] == "cutover"):
        # From cutover on, the old store catches up through this direction (rollback needs 0).
        print(f"reverse lag      {reverse.get('lag_entries')} entries, "
              f"{reverse.get('lag_seconds')} s (writes the old store has not applied)")
    print(f"dead letters     {journal['dead_letters']}")
    shadow = status.get("shadow_reads")
    if isinstance(shadow, dict) and shadow.get("enabled") and shadow.get("compared"):
        recall = shadow.get("mean_recall")
        shown = "n/a" if recall is None else f"{recall:.3f}"
        print(f"shadow reads     {shadow['compared']} compared, {shadow.get('dropped', 0)} "
              f"dropped, mean recall {shown}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vecbridge", description="Zero-downtime vector database migration proxy."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    serve = verbs.add_parser("serve", help="run the proxy")
    _add_config(serve)
    serve.set_defaults(func=cmd_serve)

    status = verbs.add_parser("status", help="show the running proxy's status")
    _add_config(status)
    status.add_argument("--url", help="proxy base URL (default: from the config)")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(func=cmd_status)
    migrate_cli.register(verbs)
    admin_cli.register(verbs)  # phase, canary, rollback, cutover... (admin API)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    func: Command = args.func
    try:
        return func(args)
    except ConfigError as exc:
        print(f"vecbridge: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
