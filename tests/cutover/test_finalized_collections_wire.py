"""Finalized creates answered by the new store, against the same request sent to Chroma.

Each case sends the same bytes to a real Chroma 1.5.9 and to the finalized handler over
a real local-mode Qdrant: created objects must be equal but for the id (a fresh uuid4),
errors equal in status and JSON body. The one known difference is pinned at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from finalized_wire import SCOPE, Pair, close_pair, open_pair, unique, without_id

from proxy.upstream.embedded_chroma import EmbeddedChroma

pytestmark = pytest.mark.timeout(120)
CLIENT_EF = {"name": "default", "type": "known", "config": {}}  # the chromadb client's default
ALL_HNSW = {"space": "cosine", "ef_construction": 200, "ef_search": 20, "max_neighbors": 32,
            "num_threads": 4, "batch_size": 50, "sync_threshold": 500, "resize_factor": 1.5}
LEGACY = {"hnsw:space": "ip", "hnsw:construction_ef": 150, "hnsw:search_ef": 30, "hnsw:M": 8,
          "hnsw:num_threads": 3, "hnsw:batch_size": 40, "hnsw:sync_threshold": 400,
          "hnsw:resize_factor": 1.1}
EVERY_TYPE = {"s": "x", "i": 3, "f": 1.5, "b": True, "neg": -1, "fint": 2.0, "big": 2**62,
              "past_i64": 2**63, "tiny": 1e-7, "uni": "é☃", "empty": ""}
CREATES: dict[str, dict[str, Any]] = {
    "name only": {},
    "explicit nulls": {"metadata": None, "configuration": None, "schema": None,
                       "get_or_create": False},
    "metadata hnsw:space l2": {"metadata": {"hnsw:space": "l2"}},
    "metadata hnsw:space cosine": {"metadata": {"hnsw:space": "cosine"}},
    "metadata hnsw:space ip": {"metadata": {"hnsw:space": "ip", "team": "a"}},
    "configuration space l2": {"configuration": {"hnsw": {"space": "l2"}}},
    "configuration space cosine": {"configuration": {"hnsw": {"space": "cosine"}}},
    "configuration space ip": {"configuration": {"hnsw": {"space": "ip"}}},
    "client default embedding function": {
        "metadata": None, "schema": None, "get_or_create": False,
        "configuration": {"hnsw": {"space": "l2"}, "spann": None, "embedding_function": CLIENT_EF}},
    "client default ef, metadata cosine": {
        "metadata": {"hnsw:space": "cosine"},
        "configuration": {"hnsw": None, "spann": None, "embedding_function": CLIENT_EF}},
    "client ef None, configuration and metadata": {
        "metadata": {"hnsw:space": "ip"},
        "configuration": {"hnsw": {"ef_search": 20}, "spann": None,
                          "embedding_function": {"type": "legacy"}}},
    "metadata of every value type": {"metadata": EVERY_TYPE},
    "every hnsw parameter": {"configuration": {"hnsw": ALL_HNSW}},
    "legacy hnsw metadata keys": {"metadata": LEGACY},
    "configuration wins over metadata": {"metadata": LEGACY,
                                         "configuration": {"hnsw": {"space": "cosine"}}},
    "spann on a single node": {"configuration": {"spann": {"space": "ip", "search_nprobe": 5}}},
    "empty spann": {"configuration": {"spann": {}}},
    "embedding function unknown": {"configuration": {"embedding_function": {"type": "unknown"}}},
    "embedding function with extras": {"configuration": {"embedding_function": {
        "type": "known", "name": "openai", "config": {"model_name": "x"}, "extra": 1}}},
    "integral resize factor": {"configuration": {"hnsw": {"resize_factor": 2}}},
    "integral legacy resize factor": {"metadata": {"hnsw:resize_factor": 2}},
    "unknown fields ignored": {"foo": 1, "configuration": {"bar": {"x": [1]}}},
    "null hnsw fields": {"configuration": {"hnsw": {"space": None, "ef_search": None}}},
    "zero ef_search": {"configuration": {"hnsw": {"ef_search": 0, "sync_threshold": 1}}},
}  # fmt: skip
EF = b'{"name": "okname1", "configuration": {"embedding_function": '
BAD_BODIES: dict[str, bytes] = {
    "name too short": b'{"name": "ab"}',
    "name with a space": b'{"name": "a b c"}',
    "name ends with a dot": b'{"name": "abc."}',
    "two periods": b'{"name": "a..bc"}',
    "ip address": b'{"name": "10.0.0.1"}',
    "too long": orjson.dumps({"name": "a" * 513}),
    "not ascii": '{"name": "abcé"}'.encode(),
    "empty name": b'{"name": ""}',
    "empty metadata": b'{"name": "okname1", "metadata": {}}',
    "metadata key #": b'{"name": "okname1", "metadata": {"#a": 1}}',
    "metadata key $": b'{"name": "okname1", "metadata": {"$a": 1}}',
    "empty metadata key": b'{"name": "okname1", "metadata": {"": 1}}',
    "null metadata value": b'{"name": "okname1", "metadata": {"a": null}}',
    "object metadata value": b'{"name": "okname1", "metadata": {"a": {"b": 1}}}',
    "mixed list value": b'{"name": "okname1", "metadata": {"a": [1, "x"]}}',
    "metadata not a map": b'{"name": "okname1", "metadata": [1]}',
    "bad hnsw:space": b'{"name": "okname1", "metadata": {"hnsw:space": "foo"}}',
    "unknown hnsw: key": b'{"name": "okname1", "metadata": {"hnsw:foo": 1}}',
    "legacy sync_threshold 1": b'{"name": "okname1", "metadata": {"hnsw:sync_threshold": 1}}',
    "legacy float M": b'{"name": "okname1", "metadata": {"hnsw:M": 8.0}}',
    "hnsw and spann": b'{"name": "x", "configuration": {"hnsw": {}, "spann": {}}}',
    "bad space": b'{"name": "okname1", "configuration": {"hnsw": {"space": "foo"}}}',
    "unknown hnsw field": b'{"name": "okname1", "configuration": {"hnsw": {"foo": 1}}}',
    "unknown spann field": b'{"name": "okname1", "configuration": {"spann": {"foo": 1}}}',
    "negative ef": b'{"name": "okname1", "configuration": {"hnsw": {"ef_search": -1}}}',
    "float ef": b'{"name": "okname1", "configuration": {"hnsw": {"ef_search": 5.0}}}',
    "huge ef": b'{"name": "okname1", "configuration": {"hnsw": {"ef_search": 1' + b"0" * 20
    + b"}}}",
    "string resize": b'{"name": "okname1", "configuration": {"hnsw": {"resize_factor": "x"}}}',
    "configuration not a struct": b'{"name": "okname1", "configuration": 5}',
    "configuration as []": b'{"name": "okname1", "configuration": []}',
    "embedding function without type": EF + b'{"foo": 1}}}',
    "known function without name": EF + b'{"type": "known"}}}',
    "known function, name int": EF + b'{"type": "known", "name": 5, "config": {}}}}',
    "unknown function type": EF + b'{"type": "weird"}}}',
    "function type null": EF + b'{"type": null}}}',
    "function as a string": EF + b'"abc"}}',
    "schema without keys": b'{"name": "okname1", "schema": {"defaults": {}}}',
    "schema not a struct": b'{"name": "okname1", "schema": 5}',
    "get_or_create null": b'{"name": "okname1", "get_or_create": null}',
    "missing name": b'{"metadata": null}',
    "missing name, multi-line": b'{\n "metadata": null\n}',
    "name null": b'{"name": null}',
    "name int": b'{"name": 5}',
    "duplicate name": b'{"name":"dupkey1","name":"dupkey2"}',
    "broken JSON": b"{nope",
    "empty body": b"",
    "whitespace only": b"   ",
    "array": b"[]",
    "null": b"null",
    "string": b'"abc"',
    "trailing characters": b'{"name":"zzzz"} x',
    "unterminated string": b'{"name":"zz',
    "unterminated object": b'{"name":"zzzz"',
    "invalid utf-8": b'{"name":"ab\xff"}',
    "data error before a syntax error": b'{"name": 5, "metadata": {',
    "syntax error in an ignored field": b'{"foo": {"x": ], "name": "abc"}',
    "trailing comma": b'{"metadata": {"a": 1,}}',
    "leading zero": b'{"name": "abcz", "metadata": {"a": 01}}',
    "bad escape": b'{"name": "ab\\qc"}',
    "missing colon": b'{"name" "abc"}',
    "missing comma": b'{"name": "abc" "x": 1}',
    "control character": b'{"name": "a\nb"}',
    "bad literal": b'{"name": tru}',
    "bad number": b'{"name": 1.}',
    "lone surrogate": b'{"name": "\\ud800"}',
    "number out of range": b'{"metadata": {"a": 1e999}}',
    "byte order mark": b'\xef\xbb\xbf{"name": "bomx"}',
}  # fmt: skip


@pytest.fixture
async def pair(chroma_server: EmbeddedChroma) -> AsyncIterator[Pair]:
    opened = await open_pair(chroma_server.url)
    yield opened
    await close_pair(opened)


@pytest.mark.parametrize("label", list(CREATES))
async def test_created_object_is_chromas(pair: Pair, label: str) -> None:
    name = unique("fc-")
    theirs, ours = await pair.create_both({"name": name, **CREATES[label]})
    assert without_id(ours) == without_id(theirs)
    assert uuid.UUID(ours["id"]).version == 4 and ours["id"] != theirs["id"]
    assert await pair.our_object(name) == ours  # the target's catalog renders it back


@pytest.mark.parametrize("label", list(BAD_BODIES))
async def test_refused_create_is_chromas(pair: Pair, label: str) -> None:
    theirs, ours = await pair.both("POST", SCOPE + "/collections", BAD_BODIES[label])
    assert ours == theirs
    assert theirs[0] in (400, 422)


async def test_two_validation_errors_come_in_either_order(pair: Pair) -> None:
    """Chroma lists them in a random order (a HashMap); here the name comes first."""
    name = ("name: Expected a name containing 3-512 characters from [a-zA-Z0-9._-], "
            "starting and ending with a character in [a-zA-Z0-9]. Got: x")
    metadata = "metadata: Metadata cannot be empty"
    orders = {f"Validation error: {name}\n{metadata}", f"Validation error: {metadata}\n{name}"}
    theirs, ours = await pair.both("POST", SCOPE + "/collections",
                                   b'{"name": "x", "metadata": {}}')  # fmt: skip
    assert theirs[0] == ours[0] == 400
    assert theirs[1]["message"] in orders
    assert ours[1]["message"] == f"Validation error: {name}\n{metadata}"


async def test_existing_name(pair: Pair) -> None:
    name = unique("fc-dup-")
    theirs, ours = await pair.create_both({"name": name, "metadata": {"a": 1}})
    again = orjson.dumps({"name": name, "metadata": {"b": 2}})
    exists = (409, {"error": "ChromaError", "message": f"Collection [{name}] already exists"})
    for raw in (again, orjson.dumps({"name": name, "metadata": {"l": [1]}})):
        conflict = await pair.both("POST", SCOPE + "/collections", raw)
        assert conflict[0] == conflict[1] == exists
    returning: list[dict[str, Any]] = [
        {"name": name, "metadata": {"b": 2}, "get_or_create": True},
        {"name": name, "configuration": {"hnsw": {"space": "ip"}}, "get_or_create": True},
        {"name": name, "metadata": {"l": [1]}, "get_or_create": True}]
    for body in returning:
        got_theirs, got_ours = await pair.both("POST", SCOPE + "/collections", orjson.dumps(body))
        assert got_theirs == (200, theirs)  # Chroma keeps the existing collection as it was
        assert got_ours == (200, ours)
    refusals: list[dict[str, Any]] = [
        {"name": name, "metadata": {}, "get_or_create": True},
        {"name": name, "configuration": {"hnsw": {}, "spann": {}}, "get_or_create": True},
        {"name": name, "metadata": {"hnsw:space": "q"}, "get_or_create": True},
        {"name": name, "metadata": {"#a": 1}}]
    for body in refusals:
        refused = await pair.both("POST", SCOPE + "/collections", orjson.dumps(body))
        assert refused[0] == refused[1] and refused[0][0] == 400, body


async def test_databases(pair: Pair) -> None:
    """Unknown ones are refused as Chroma does (after validation); another one works."""
    for path in ("/api/v2/tenants/default_tenant/databases/nodb",
                 "/api/v2/tenants/notenant/databases/default_database"):
        for body in (b'{"name": "okname2"}', b'{"name": "x"}',
                     b'{"name": "okname2", "configuration": {"hnsw": {}, "spann": {}}}'):
            theirs, ours = await pair.both("POST", path + "/collections", body)
            assert ours == theirs and theirs[0] == 400, (path, body, theirs)
    database = unique("db")
    made = await pair.chroma("POST", "/api/v2/tenants/default_tenant/databases",
                             orjson.dumps({"name": database}))  # fmt: skip
    assert made[0] == 200, made
    scope = f"/api/v2/tenants/default_tenant/databases/{database}"
    theirs, ours = await pair.create_both({"name": unique("fc-db-")}, scope=scope)
    assert without_id(ours) == without_id(theirs) and ours["database"] == database


async def test_content_type_and_trailing_slash(pair: Pair) -> None:
    body = orjson.dumps({"name": unique("fc-ct-")})
    for headers in ({"Content-Type": "text/plain"}, {}):
        theirs, ours = await pair.both("POST", SCOPE + "/collections", body, headers)
        assert ours == theirs and theirs[0] == 415
    theirs, ours = await pair.both("POST", SCOPE + "/collections/", body)
    assert ours == theirs == (404, b"")
    charset = {"Content-Type": "application/json; charset=utf-8"}
    theirs, ours = await pair.both("POST", SCOPE + "/collections", body, charset)
    assert theirs[0] == ours[0] == 200 and without_id(ours[1]) == without_id(theirs[1])


async def test_list_metadata_differs_on_purpose(pair: Pair) -> None:
    """Chroma 1.5.9 panics on a list in collection metadata and drops the connection;
    the finalized handler answers 500 InternalError and creates nothing."""
    name = unique("fc-list-")
    body = orjson.dumps({"name": name, "metadata": {"a": [1, 2]}})
    theirs, ours = await pair.both("POST", SCOPE + "/collections", body)
    assert theirs == (0, None)
    assert ours[0] == 500 and ours[1]["error"] == "InternalError"
    assert await pair.our_object(name) is None
    assert (await pair.chroma("GET", f"{SCOPE}/collections/{name}"))[0] == 404
