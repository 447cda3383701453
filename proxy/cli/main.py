"""The ``vecbridge`` command line.

``vecbridge serve --config PATH`` runs the proxy; the other verbs talk to a running
proxy or to the stores directly. Every verb exits non-zero with a one-line message on
failure.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from proxy.cli import control_verbs as admin_cli
from proxy.cli import migration_verbs as migrate_cli
from proxy.cli.status_print import app_port_status
from proxy.core.config import ConfigError, load_config

log = logging.getLogger("vecbridge")

Command = Callable[[argparse.Namespace], int]


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, default=None,
        help="config file (default: the embedded default, same as the shipped config.yaml)",
    )  # fmt: skip


def cmd_serve(args: argparse.Namespace) -> int:
    from proxy.http.serve import serve

    config = load_config(args.config)
    return serve(config)


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
    status.set_defaults(func=app_port_status)
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
