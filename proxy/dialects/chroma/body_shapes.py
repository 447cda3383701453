"""serde's typed readers over :class:`proxy.dialects.chroma.body.Reader`: what a Rust field type
accepts and the exact error it gives for anything else.

A shape is a function ``Reader -> value`` that reads one JSON value at the cursor:
``text`` (``String``), ``flag`` (``bool``), ``unsigned("usize")``, ``double`` (``f64``),
``unit_enum``, ``option``, ``struct``, ``map_of``, ``untagged`` and ``tagged``
(internally tagged enum). Their messages and positions follow serde / serde_json as
Chroma 1.5.9 answers them (see the module docstring of :mod:`proxy.dialects.chroma.body`).

Approximated (no client sends them): a struct written as a non-empty JSON array (serde
reads its fields by position; the field order is Chroma's as far as known), an enum
written as a map, an internally tagged enum written as an array, and the text of an
unusual float or string quoted in a message (Python's repr vs Rust's formatting).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from proxy.dialects.chroma.body import BodyRejected, Reader, Unplaced, describe

Shape = Callable[[Reader], Any]
U32_MAX = 2**32 - 1
LIMITS = {"usize": 2**64 - 1, "u32": U32_MAX}


def one_of(names: Sequence[str]) -> str:
    """serde's list of expected names: "`a`", "`a` or `b`", "one of `a`, `b`, `c`"."""
    quoted = [f"`{n}`" for n in names]
    if len(quoted) == 1:
        return quoted[0]
    if len(quoted) == 2:
        return f"{quoted[0]} or {quoted[1]}"
    return "one of " + ", ".join(quoted)


def kind_of(value: Any) -> str:
    """serde's ``Unexpected`` text of any buffered value."""
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "sequence"
    return describe(value)


def invalid_type(r: Reader, expected: str) -> BodyRejected:
    """serde_json's ``peek_invalid_type``: a scalar is consumed first, a container is not."""
    c = r.ws()
    if c is None:
        return r.syntax("EOF while parsing a value")
    if c in (ord("["), ord("{")):
        return r.data_error(f"invalid type: {kind_of([] if c == ord('[') else {})}, "
                            f"expected {expected}")  # fmt: skip
    value = r.scalar()
    return r.data_error(f"invalid type: {describe(value)}, expected {expected}")


def text(r: Reader) -> str:
    if r.ws() == ord('"'):
        return r.string()
    raise invalid_type(r, "a string")


def flag(r: Reader) -> bool:
    if r.ws() in (ord("t"), ord("f")):
        return bool(r.scalar())
    raise invalid_type(r, "a boolean")


def unsigned(kind: str) -> Shape:
    """An unsigned integer field (``usize`` / ``u32``)."""

    def read(r: Reader) -> int:
        c = r.ws()
        if c is None or not (c == ord("-") or ord("0") <= c <= ord("9")):
            raise invalid_type(r, kind)
        value = r.number()
        if isinstance(value, float):
            raise r.data_error(f"invalid type: {describe(value)}, expected {kind}")
        if not 0 <= value <= LIMITS[kind]:
            raise r.data_error(f"invalid value: {describe(value)}, expected {kind}")
        return value

    return read


def double(r: Reader) -> float:
    c = r.ws()
    if c is not None and (c == ord("-") or ord("0") <= c <= ord("9")):
        return float(r.number())
    raise invalid_type(r, "f64")


def unit_enum(variants: Sequence[str]) -> Shape:
    """An enum of unit variants, written as a string (serde_json ``deserialize_enum``)."""

    def read(r: Reader) -> str:
        c = r.ws()
        if c is None:
            raise r.syntax("EOF while parsing a value", peek=True)
        if c != ord('"'):  # serde_json takes no other token for an enum
            raise r.syntax("expected value", peek=True)
        value = r.string()
        if value not in variants:
            raise r.data_error(f"unknown variant `{value}`, expected {one_of(variants)}")
        return value

    return read


def option(inner: Shape) -> Shape:
    def read(r: Reader) -> Any:
        return r.scalar() if r.ws() == ord("n") else inner(r)

    return read


def _field(r: Reader, key: str, shape: Shape) -> Any:
    r.path.append(key)
    value = shape(r)
    r.path.pop()
    return value


def struct(name: str, fields: Mapping[str, Shape], required: Sequence[str] = (),
           deny_unknown: bool = False) -> Shape:  # fmt: skip
    """A Rust struct: present fields come back in a dict (absent ones are left out)."""

    def read(r: Reader) -> dict[str, Any]:
        c = r.ws()
        if c == ord("["):
            return _struct_seq(r, name, fields)
        if c != ord("{"):
            raise invalid_type(r, f"struct {name}")
        out: dict[str, Any] = {}
        try:
            for key in r.object_keys():
                if key in fields and key in out:
                    raise Unplaced(f"duplicate field `{key}`", r.path)
                if key not in fields and deny_unknown:
                    r.path.append(key)
                    raise r.data_error(f"unknown field `{key}`, expected {one_of(list(fields))}")
                r.colon()
                if key in fields:
                    out[key] = _field(r, key, fields[key])
                else:
                    _field(r, key, lambda r: r.value())  # ignored, still parsed
        except Unplaced as exc:
            raise r.place(exc, ord("}")) from None
        for key in required:  # the brace is consumed already: placed after it
            if key not in out:
                raise r.data_error(f"missing field `{key}`")
        return out

    return read


def _struct_seq(r: Reader, name: str, fields: Mapping[str, Shape]) -> dict[str, Any]:
    """serde's sequence form of a struct: fields in declaration order."""
    r.i += 1
    out: dict[str, Any] = {}
    try:
        for index, (key, shape) in enumerate(fields.items()):
            if not r.more(ord("]"), first=index == 0):
                plural = "" if len(fields) == 1 else "s"  # serde: "1 element", "2 elements"
                raise Unplaced(f"invalid length {index}, expected struct {name} with "
                               f"{len(fields)} element{plural}", r.path)  # fmt: skip
            out[key] = _field(r, f"[{index}]", shape)
    except Unplaced as exc:
        raise r.place(exc, ord("]")) from None
    if r.more(ord("]"), first=False):
        raise r.syntax("trailing characters", peek=True)
    r.i += 1
    return out


def map_of(value: Shape) -> Shape:
    """A ``HashMap<String, V>``: a later duplicate key wins, as in serde."""

    def read(r: Reader) -> dict[str, Any]:
        if r.ws() != ord("{"):
            raise invalid_type(r, "a map")
        out: dict[str, Any] = {}
        try:
            for key in r.object_keys():
                r.colon()
                out[key] = _field(r, key, value)
        except Unplaced as exc:
            raise r.place(exc, ord("}")) from None
        return out

    return read


def untagged(name: str, accept: Callable[[Any], Any]) -> Shape:
    """An untagged enum: the value is buffered whole, then ``accept`` (which returns the
    kept value or raises ValueError) tries the variants."""

    def read(r: Reader) -> Any:
        buffered = r.value(track=True)
        try:
            return accept(buffered)
        except ValueError:
            raise Unplaced(f"data did not match any variant of untagged enum {name}",
                           r.path) from None

    return read


Variant = Callable[[dict[str, Any], list[str]], dict[str, Any]]


def tagged(name: str, variants: Mapping[str, Variant], tag: str = "type") -> Shape:
    """An internally tagged enum: the object is buffered, its ``tag`` picks the variant,
    whose reader gets the other entries (errors there are placed by the parent)."""

    def read(r: Reader) -> dict[str, Any]:
        if r.ws() != ord("{"):
            raise invalid_type(r, f"internally tagged enum {name}")
        content: dict[str, Any] = {}
        found: str | None = None
        try:
            for key in r.object_keys():
                if key == tag and found is not None:
                    raise Unplaced(f"duplicate field `{tag}`", r.path)
                r.colon()
                if key == tag:
                    found = _field(r, key, _variant_name(list(variants)))
                else:
                    content[key] = _field(r, key, lambda r: r.value(track=True))
        except Unplaced as exc:
            raise r.place(exc, ord("}")) from None
        if found is None:
            raise r.data_error(f"missing field `{tag}`")
        return variants[found](content, list(r.path))

    return read


def _variant_name(names: list[str]) -> Shape:
    def read(r: Reader) -> str:
        if r.ws() != ord('"'):
            raise invalid_type(r, "variant identifier")
        value = r.string()
        if value not in names:
            raise r.data_error(f"unknown variant `{value}`, expected {one_of(names)}")
        return value

    return read
