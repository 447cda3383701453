"""Rust regex syntax on Python's re: translations and refusals."""

from __future__ import annotations

import pytest

from adapters.rust_regex import RegexError, compile_rust_regex


@pytest.mark.parametrize(
    ("pattern", "text", "found"),
    [
        ("line$", "line\n", False),  # Rust $ is end of text only
        ("(?m)line$", "line\n", True),
        ("a[$]", "a$", True),
        (r"end\z", "the end", True),
        ("(?<w>al)pha", "alpha", True),
        ("(?i)BETA", "beta", True),
        (r"\d+", "x42", True),
    ],
)
def test_rust_semantics(pattern: str, text: str, found: bool) -> None:
    assert (compile_rust_regex(pattern).search(text) is not None) is found


@pytest.mark.parametrize("pattern", ["(?=a)", "(?!a)", "(?<=a)b", "(?<!a)b", r"(a)\1", "[", r"\pL"])
def test_refused(pattern: str) -> None:
    with pytest.raises(RegexError):
        compile_rust_regex(pattern)
