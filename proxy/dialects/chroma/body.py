"""A request body read the way Chroma's server reads it (serde_json behind axum).

Chroma 1.5.9 deserialises a JSON body straight into its payload struct and answers the
first problem it meets, in byte order (observed; pinned in
tests/cutover/test_finalized_collections_wire.py):

* broken JSON: 400 ``InvalidArgumentError`` "Failed to parse the request body as JSON:
  {path}: {what} at line L column C";
* a value of the wrong shape: 422 ``ChromaError`` "Failed to deserialize the JSON body
  into the target type: {path}: {what} at line L column C".

``path`` is serde_path_to_error's (``configuration.hnsw.ef_search``; ``?`` for a key
not read yet; left out when it names nothing). L/C count bytes: C is how many bytes of
line L were consumed when the error was raised. Where serde raises it decides C: a
scalar of the wrong type is consumed first, a container is not; an error raised
without a position (missing field, untagged enum mismatch, duplicate field) is placed
by the innermost container being read, after it skips whitespace and its closing
bracket. :class:`Reader` reproduces that; the payload shapes are in
:mod:`proxy.dialects.chroma.collection_payloads`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

SYNTAX_PREFIX = "Failed to parse the request body as JSON: "
DATA_PREFIX = "Failed to deserialize the JSON body into the target type: "
_WS = b" \t\n\r"
_ESCAPES = {ord('"'): '"', ord("\\"): "\\", ord("/"): "/", ord("b"): "\b", ord("f"): "\f",
            ord("n"): "\n", ord("r"): "\r", ord("t"): "\t"}  # fmt: skip
CONTROL_CHARACTER = "control character (\\u0000-\\u001F) found while parsing a string"
U64_MAX = 2**64 - 1
I64_MIN = -(2**63)


class BodyRejected(Exception):
    """Chroma's answer to a body it cannot read: ``status``, error ``name``, ``message``."""

    def __init__(self, syntax: bool, what: str, path: list[str], line: int, column: int):
        shown = "" if all(p == "?" for p in path) else _path_text(path) + ": "
        prefix = SYNTAX_PREFIX if syntax else DATA_PREFIX
        self.message = f"{prefix}{shown}{what} at line {line} column {column}"
        self.status = 400 if syntax else 422
        self.name = "InvalidArgumentError" if syntax else "ChromaError"
        super().__init__(self.message)


class Unplaced(Exception):
    """A serde error raised without a position; the enclosing container places it."""

    def __init__(self, what: str, path: list[str]) -> None:
        super().__init__(what)
        self.what = what
        self.path = list(path)


def _path_text(path: list[str]) -> str:
    text = ""
    for segment in path:
        text += segment if segment.startswith("[") or not text else "." + segment
    return text


def describe(value: Any) -> str:
    """serde's ``Unexpected`` text for a scalar JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{str(value).lower()}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value!r}`"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'string "{text}"'


class Reader:
    """A cursor over a body with serde_json's parsing rules and error positions."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.i = 0
        self.path: list[str] = []

    # -- errors ---------------------------------------------------------------------
    def _error(self, syntax: bool, what: str, consumed: int, path: list[str]) -> BodyRejected:
        line = self.data.count(b"\n", 0, consumed) + 1
        column = consumed - (self.data.rfind(b"\n", 0, consumed) + 1)
        return BodyRejected(syntax, what, path, line, column)

    def syntax(self, what: str, peek: bool = False) -> BodyRejected:
        consumed = min(len(self.data), self.i + 1) if peek else self.i
        return self._error(True, what, consumed, self.path)

    def data_error(self, what: str, path: list[str] | None = None) -> BodyRejected:
        return self._error(False, what, self.i, self.path if path is None else path)

    def place(self, error: Unplaced, close: int) -> BodyRejected:
        """Position an unplaced error the way a container's end does (``close``: } or ])."""
        if self.ws() == close:
            self.i += 1
        return self.data_error(error.what, error.path)

    # -- lexing ---------------------------------------------------------------------
    def ws(self) -> int | None:
        """Skip whitespace; the next byte (not consumed) or None at the end."""
        while self.i < len(self.data) and self.data[self.i] in _WS:
            self.i += 1
        return self.data[self.i] if self.i < len(self.data) else None

    def _next(self) -> int | None:
        if self.i >= len(self.data):
            return None
        self.i += 1
        return self.data[self.i - 1]

    def _ident(self, word: bytes) -> None:
        self.i += 1  # the first letter was peeked
        for expected in word[1:]:
            got = self._next()
            if got is None:
                raise self.syntax("EOF while parsing a value")
            if got != expected:
                raise self.syntax("expected ident")

    def string(self) -> str:
        """A string at the cursor (its opening quote peeked)."""
        self.i += 1
        out: list[str] = []
        start = self.i
        while True:
            c = self._next()
            if c is None:
                raise self.syntax("EOF while parsing a string")
            if c == ord('"'):
                out.append(self._utf8(start, self.i - 1))
                return "".join(out)
            if c == ord("\\"):
                out.append(self._utf8(start, self.i - 1))
                out.append(self._escape())
                start = self.i
            elif c < 0x20:
                raise self.syntax(CONTROL_CHARACTER)

    def _utf8(self, start: int, end: int) -> str:
        try:
            return self.data[start:end].decode("utf-8")
        except UnicodeDecodeError:
            raise self.syntax("invalid unicode code point") from None

    def _escape(self) -> str:
        c = self._next()
        if c is None:
            raise self.syntax("EOF while parsing a string")
        if c in _ESCAPES:
            return _ESCAPES[c]
        if c != ord("u"):
            raise self.syntax("invalid escape")
        unit = self._hex4()
        if 0xDC00 <= unit <= 0xDFFF:
            raise self.syntax("lone leading surrogate in hex escape")
        if not 0xD800 <= unit <= 0xDBFF:
            return chr(unit)
        if self._next() != ord("\\") or self._next() != ord("u"):
            raise self.syntax("unexpected end of hex escape")
        low = self._hex4()
        if not 0xDC00 <= low <= 0xDFFF:
            raise self.syntax("lone leading surrogate in hex escape")
        return chr(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))

    def _hex4(self) -> int:
        value = 0
        for _ in range(4):
            c = self._next()
            if c is None:
                raise self.syntax("EOF while parsing a string")
            digit = int(chr(c), 16) if chr(c) in "0123456789abcdefABCDEF" else None
            if digit is None:
                raise self.syntax("invalid escape")
            value = value * 16 + digit
        return value

    def _digits(self) -> None:
        while self.i < len(self.data) and 0x30 <= self.data[self.i] <= 0x39:
            self.i += 1

    def _required_digit(self) -> None:
        """One digit must come next (after ``-``, ``.``, ``e``): serde's errors if not."""
        c = self._next()
        if c is None:
            raise self.syntax("EOF while parsing a value")
        if not 0x30 <= c <= 0x39:
            raise self.syntax("invalid number")

    def number(self) -> int | float:
        """A number at the cursor: int where serde keeps it integral (u64 / i64), else float."""
        start = self.i
        negative = self.data[self.i] == ord("-")
        self.i += int(negative)
        self._required_digit()
        if self.data[self.i - 1] == ord("0"):
            if self.i < len(self.data) and 0x30 <= self.data[self.i] <= 0x39:
                raise self.syntax("invalid number", peek=True)  # one leading zero only
        else:
            self._digits()
        integral = True
        if self.data[self.i : self.i + 1] == b".":
            integral, self.i = False, self.i + 1
            self._required_digit()
            self._digits()
        if self.data[self.i : self.i + 1] in (b"e", b"E"):
            integral, self.i = False, self.i + 1
            self.i += int(self.data[self.i : self.i + 1] in (b"+", b"-"))
            self._required_digit()
            self._digits()
        text = self.data[start : self.i]
        if integral:
            value = int(text)
            if (0 <= value <= U64_MAX and not negative) or (I64_MIN <= value < 0):
                return value
        result = float(text)  # serde: past u64 / i64, and "-0", become floats
        if result in (float("inf"), float("-inf")):
            raise self.syntax("number out of range")
        return result

    # -- generic values -------------------------------------------------------------
    def value(self, track: bool = False) -> Any:
        """Any JSON value; ``track`` names nested keys in error paths (buffered content)."""
        c = self.ws()
        if c is None:
            raise self.syntax("EOF while parsing a value")
        if c == ord("{"):
            return self._object(track)
        if c == ord("["):
            return self._array(track)
        return self.scalar()

    def scalar(self) -> Any:
        """null / true / false / a number / a string at the cursor."""
        c = self.ws()
        if c is None:
            raise self.syntax("EOF while parsing a value")
        for word, result in ((b"null", None), (b"true", True), (b"false", False)):
            if c == word[0]:
                self._ident(word)
                return result
        if c == ord("-") or ord("0") <= c <= ord("9"):
            return self.number()
        if c == ord('"'):
            return self.string()
        raise self.syntax("expected value", peek=True)

    def _array(self, track: bool) -> list[Any]:
        self.i += 1
        items: list[Any] = []
        while self.more(ord("]"), first=not items):
            if track:
                self.path.append(f"[{len(items)}]")
            items.append(self.value(track))
            if track:
                self.path.pop()
        self.i += 1
        return items

    def _object(self, track: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in self.object_keys():
            self.colon()
            if track:
                self.path.append(key)
            out[key] = self.value(track)
            if track:
                self.path.pop()
        return out

    def more(self, close: int, first: bool) -> bool:
        """Between items of a container: True when an item follows (separator consumed)."""
        c = self.ws()
        kind = "a list" if close == ord("]") else "an object"
        if c is None:
            raise self.syntax(f"EOF while parsing {kind}")
        if c == close:
            return False
        if not first:
            if c != ord(","):
                raise self.syntax(f"expected `,` or `{chr(close)}`", peek=True)
            self.i += 1
            c = self.ws()
            if c == close:
                raise self.syntax("trailing comma", peek=True)
            if c is None:
                raise self.syntax("EOF while parsing a value")
        return True

    def object_keys(self) -> Iterator[str]:
        """Iterate the keys of the object at the cursor; the caller reads each value.

        On exhaustion the closing brace is consumed. Errors while reading a key carry
        the ``?`` segment, as serde_path_to_error does for a key not read yet.
        """
        self.i += 1
        first = True
        while True:
            self.path.append("?")
            if not self.more(ord("}"), first):
                self.path.pop()
                self.i += 1
                return
            if self.ws() != ord('"'):
                raise self.syntax("key must be a string", peek=True)
            key = self.string()
            self.path.pop()
            first = False
            yield key  # the caller reads the colon and the value

    def colon(self) -> None:
        c = self.ws()
        if c is None:
            raise self.syntax("EOF while parsing an object")
        if c != ord(":"):
            raise self.syntax("expected `:`", peek=True)
        self.i += 1

    def end(self) -> None:
        """serde_json's end of input: only whitespace may follow."""
        if self.ws() is not None:
            raise self.syntax("trailing characters", peek=True)
