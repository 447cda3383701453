"""``vecbridge status`` read from the app port (``/-/status``), and its human form."""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request

import orjson

from proxy.core.config import Config, load_config


def proxy_url(config: Config) -> str:
    host = config.listen.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://{host}:{config.listen.port}"


def app_port_status(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    url = args.url or proxy_url(config)
    try:
        with urllib.request.urlopen(f"{url}/-/status", timeout=10) as resp:
            status = orjson.loads(resp.read())
    except (urllib.error.URLError, OSError) as exc:
        print(f"vecbridge: cannot reach the proxy at {url}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(orjson.dumps(status, option=orjson.OPT_INDENT_2).decode())
    else:
        print_store_status(status)
    return 0


def print_store_status(status: dict[str, object]) -> None:
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
