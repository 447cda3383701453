"""A small PromQL scanner: which series a query selects, and with which label matchers.

Not a parser: it tokenises just enough to tell metric names from functions, aggregation
operators, grouping labels, strings, durations and Grafana variables. Good enough to
check dashboard and rule expressions against the metrics contract.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""
    (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<range>\[[^\]]*\])
  | (?P<matchers>\{[^}]*\})
  | (?P<variable>\$\{?\w+\}?)
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?:ms|[smhdwy])?)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<space>\s+)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')

AGGREGATORS = frozenset(
    [
        "sum",
        "avg",
        "min",
        "max",
        "count",
        "count_values",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "group",
        "limitk",
        "limit_ratio",
    ]
)
_GROUPING = frozenset(["by", "without", "on", "ignoring", "group_left", "group_right"])
_KEYWORDS = _GROUPING | frozenset(["and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"])


@dataclass(frozen=True)
class Matcher:
    """One label matcher such as ``store="target"``."""

    label: str
    op: str
    value: str


@dataclass(frozen=True)
class Selector:
    """A series selector: a metric name and its label matchers."""

    name: str
    matchers: tuple[Matcher, ...]


def _tokens(expr: str) -> list[tuple[str, str]]:
    found = []
    for match in _TOKEN.finditer(expr):
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            found.append((kind, match.group()))
    return found


def _skip_group(tokens: list[tuple[str, str]], start: int) -> int:
    """Index just past the parenthesised label list starting at ``start``."""
    depth = 0
    for index in range(start, len(tokens)):
        text = tokens[index][1]
        depth += text == "("
        depth -= text == ")"
        if depth == 0:
            return index + 1
    return len(tokens)


def selectors(expr: str) -> list[Selector]:
    """Every named series selector in ``expr``, in order."""
    tokens = _tokens(expr)
    result: list[Selector] = []
    index = 0
    while index < len(tokens):
        kind, text = tokens[index]
        following = tokens[index + 1] if index + 1 < len(tokens) else ("", "")
        index += 1
        if kind != "ident":
            continue
        if text in _GROUPING and following[1] == "(":
            index = _skip_group(tokens, index)
        elif text in _KEYWORDS or text in AGGREGATORS or following[1] == "(":
            continue
        else:
            matchers = parse_matchers(following[1]) if following[0] == "matchers" else ()
            result.append(Selector(text, matchers))
    return result


def parse_matchers(block: str) -> tuple[Matcher, ...]:
    """The matchers of a ``{...}`` block."""
    return tuple(Matcher(label, op, value) for label, op, value in _MATCHER.findall(block))


def metric_names(expr: str) -> set[str]:
    """The metric names ``expr`` selects."""
    return {selector.name for selector in selectors(expr)}
