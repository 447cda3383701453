"""Rust-syntax regular expressions (Chroma's ``$regex``) evaluated with Python's ``re``.

The two dialects agree on the common core (classes, repetition, groups, ``(?i)`` flags,
Unicode ``\\d \\w \\s \\b``). Where they differ this module translates or refuses:

- ``$`` without ``(?m)``: Rust matches only at the very end, Python also before a final
  newline -> rewritten to ``\\Z``. ``\\z`` (Rust end of text) -> ``\\Z``.
- ``(?<name>...)`` -> ``(?P<name>...)``.
- Look-around and backreferences do not exist in Rust: refused, as Chroma refuses them.
- ``\\p{...}`` / ``\\pL`` Unicode classes are not supported by ``re``: refused (a documented
  difference: Chroma accepts them).
"""

from __future__ import annotations

import re
from functools import lru_cache


class RegexError(ValueError):
    """The pattern is not a regex Rust's ``regex`` crate (and so Chroma) would accept."""


_REFUSED = re.compile(r"\(\?<?[=!]")


def _translate(pattern: str) -> str:
    if _REFUSED.search(pattern):
        raise RegexError("look-around, including look-ahead and look-behind, is not supported")
    multiline = re.search(r"\(\?[a-zA-Z]*m[a-zA-Z]*[:)]", pattern) is not None
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if nxt.isdigit() and nxt != "0":
                raise RegexError("backreferences are not supported")
            if nxt in "pP":
                raise RegexError("Unicode class escapes are not supported here")
            out.append("\\Z" if nxt == "z" and not in_class else ch + nxt)
            i += 2
            continue
        if in_class:
            in_class = ch != "]" or out[-1] == "["
        elif ch == "[":
            in_class = True
        elif ch == "$" and not multiline:
            ch = r"\Z"
        elif pattern.startswith("(?<", i):
            ch = "(?P<"
            i += 2
        out.append(ch)
        i += 1
    return "".join(out)


@lru_cache(maxsize=256)
def compile_rust_regex(pattern: str) -> re.Pattern[str]:
    """Compile ``pattern`` (Rust syntax) for ``search``; raises :class:`RegexError`."""
    try:
        return re.compile(_translate(pattern))
    except re.error as exc:
        raise RegexError(f"regex parse error: {exc}") from exc
