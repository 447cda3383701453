"""Finalized modify / delete collection answered by the new store, against real Chroma.

The same collection is created on both sides (each with its own UUID), then the same
modify bodies are sent to each in turn: the answers must be equal, and so must the
collection object each side then holds (but for the id). Deletes likewise.
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
KNOWN_EF = {"type": "known", "name": "default", "config": {}}


@pytest.fixture
async def pair(chroma_server: EmbeddedChroma) -> AsyncIterator[Pair]:
    opened = await open_pair(chroma_server.url)
    yield opened
    await close_pair(opened)


class Twins:
    """One collection on each side, followed through renames."""

    def __init__(self, pair: Pair, name: str, theirs: Any, ours: Any) -> None:
        self.pair, self.name = pair, name
        self.their_path = f"{SCOPE}/collections/{theirs['id']}"
        self.our_path = f"{SCOPE}/collections/{ours['id']}"
        self.our_id = ours["id"]

    async def modify(self, body: bytes, headers: dict[str, str] | None = None) -> None:
        """Send ``body`` to both; answers and resulting objects must match."""
        theirs = await self.pair.chroma("PUT", self.their_path, body, headers)
        ours = await self.pair.ours("PUT", self.our_path, body, headers)
        assert ours == theirs, body
        changed = orjson.loads(body).get("new_name") if theirs[0] == 200 else None
        self.name = changed or self.name
        await self.same_objects()

    async def same_objects(self) -> None:
        theirs = await self.pair.chroma_object(self.name)
        ours = await self.pair.our_object(self.name)
        assert ours is not None and ours["id"] == self.our_id
        assert without_id(ours) == without_id(theirs)


async def twins(pair: Pair, body: dict[str, Any]) -> Twins:
    theirs, ours = await pair.create_both(body)
    return Twins(pair, body["name"], theirs, ours)


MODIFY_STEPS: list[dict[str, Any]] = [
    {},
    {"new_metadata": {"z": 2}},
    {"new_metadata": None},
    {"new_metadata": {"k": None, "z": 5}},
    {"new_metadata": {"k": None}},
    {"new_metadata": {}},
    {"new_metadata": {"#x": 1}},
    {"new_metadata": {"hnsw:space": "ip", "hnsw:M": 4}},
    {"new_metadata": {"every": "type", "i": 1, "f": 2.5, "b": False, "big": 2**63}},
    {"new_configuration": {"hnsw": {"ef_search": 77}}},
    {"new_configuration": {"hnsw": {"ef_search": 11, "max_neighbors": 9, "num_threads": 7,
                                    "resize_factor": 2, "sync_threshold": 300,
                                    "batch_size": 30}}},
    {"new_configuration": {"hnsw": {"space": "ip"}}},
    {"new_configuration": {"hnsw": {"ef_construction": 5}}},
    {"new_configuration": {"spann": {"ef_search": 5}}},
    {"new_configuration": {"spann": {"foo": 1}}},
    {"new_configuration": {"hnsw": {}, "spann": {}}},
    {"new_configuration": {"embedding_function": KNOWN_EF}},
    {"new_configuration": {"embedding_function": {"type": "legacy"}, "hnsw": None}},
    {"new_configuration": {"hnsw": None, "spann": None, "embedding_function": None}},
    {"new_configuration": 5},
    {"new_configuration": {"hnsw": []}},
    {"new_metadata": 5},
    {"new_metadata": {"k": {"x": 1}}},
    {"new_name": "x"},
    {"new_name": "a..b"},
    {"new_name": 3},
    {"new_name": None},
    {"foo": 1},
]  # fmt: skip
RAW_MODIFIES = [b"{x", b"[]", b"null", b'{"new_name": "abc"', b""]


async def test_modify_sequence(pair: Pair) -> None:
    body = {"name": unique("fm-"), "metadata": {"k": 1, "j": 2, "hnsw:space": "cosine"}}
    collection = await twins(pair, body)
    for step in MODIFY_STEPS:
        await collection.modify(orjson.dumps(step))
    for raw in RAW_MODIFIES:
        theirs = await pair.chroma("PUT", collection.their_path, raw)
        ours = await pair.ours("PUT", collection.our_path, raw)
        assert ours == theirs and theirs[0] in (400, 422), raw
    await collection.modify(orjson.dumps({"new_name": collection.name}))  # its own name
    new_name = unique("fm-renamed-")
    old_name = collection.name
    await collection.modify(orjson.dumps({"new_name": new_name, "new_metadata": {"r": 1}}))
    assert collection.name == new_name
    gone = await pair.chroma("GET", f"{SCOPE}/collections/{old_name}")
    assert gone[0] == 404 and await pair.our_object(old_name) is None


async def test_modify_refusals(pair: Pair) -> None:
    collection = await twins(pair, {"name": unique("fm-a-")})
    other = unique("fm-b-")
    await pair.create_both({"name": other})
    await collection.modify(orjson.dumps({"new_name": other}))  # Chroma's 500 (UNIQUE)
    await collection.modify(orjson.dumps({"new_name": other, "new_metadata": {}}))
    await collection.modify(orjson.dumps({"new_name": other, "new_configuration": {
        "hnsw": {}, "spann": {}}}))  # fmt: skip
    for headers in ({"Content-Type": "text/plain"}, {}):
        await collection.modify(b'{"new_name": "okname3"}', headers)
    unknown = str(uuid.uuid4())
    paths = [unknown, unknown.replace("-", ""), "zzz", unknown[:10] + "-" + unknown[10:]]
    bodies = [b"{}", b'{"new_name": "x"}', b'{"new_configuration": {"hnsw": {}, "spann": {}}}',
              b"{x"]  # fmt: skip
    for tail in paths:
        for body in bodies:
            theirs, ours = await pair.both("PUT", f"{SCOPE}/collections/{tail}", body)
            assert ours == theirs and theirs[0] in (400, 404), (tail, body, theirs)


async def test_modify_path_forms_and_scope(pair: Pair) -> None:
    """Chroma parses the uuid crate's forms, and ignores the path's tenant/database."""
    collection = await twins(pair, {"name": unique("fm-forms-")})
    their_id = collection.their_path.rsplit("/", 1)[1]
    for form in ("{%s}", "urn:uuid:%s", "UPPER"):
        def spelled(uid: str, form: str = form) -> str:
            return uid.upper() if form == "UPPER" else form % uid
        body = orjson.dumps({"new_metadata": {"form": form}})
        theirs = await pair.chroma("PUT", f"{SCOPE}/collections/{spelled(their_id)}", body)
        ours = await pair.ours("PUT", f"{SCOPE}/collections/{spelled(collection.our_id)}", body)
        assert ours == theirs == (200, {})
        await collection.same_objects()
    elsewhere = "/api/v2/tenants/default_tenant/databases/nodb/collections/"
    body = orjson.dumps({"new_name": unique("fm-moved-")})
    theirs = await pair.chroma("PUT", elsewhere + their_id, body)
    ours = await pair.ours("PUT", elsewhere + collection.our_id, body)
    assert ours == theirs == (200, {})
    collection.name = orjson.loads(body)["new_name"]
    await collection.same_objects()


async def test_modify_list_metadata_differs_on_purpose(pair: Pair) -> None:
    """Chroma drops the connection (a panic); here: 500 and the collection unchanged."""
    collection = await twins(pair, {"name": unique("fm-list-"), "metadata": {"k": 1}})
    body = orjson.dumps({"new_metadata": {"l": [1]}})
    assert await pair.chroma("PUT", collection.their_path, body) == (0, None)
    ours = await pair.ours("PUT", collection.our_path, body)
    assert ours[0] == 500 and ours[1]["error"] == "InternalError"
    await collection.same_objects()


async def test_delete(pair: Pair) -> None:
    name = unique("fd-")
    await pair.create_both({"name": name})
    theirs, ours = await pair.both("DELETE", f"{SCOPE}/collections/{name}")
    assert ours == theirs == (200, {})
    assert await pair.our_object(name) is None
    survivor = unique("fd-keep-")
    await pair.create_both({"name": survivor})
    for path in (f"{SCOPE}/collections/{name}", f"{SCOPE}/collections/x",
                 f"{SCOPE}/collections/{uuid.uuid4()}",
                 f"/api/v2/tenants/default_tenant/databases/nodb/collections/{survivor}",
                 f"/api/v2/tenants/notenant/databases/default_database/collections/{survivor}"):
        theirs, ours = await pair.both("DELETE", path)
        assert ours == theirs and theirs[0] == 404, path
    assert await pair.our_object(survivor) is not None
    theirs, ours = await pair.both("DELETE", f"{SCOPE}/collections/{survivor}",
                                   b"garbage", {"Content-Type": "text/plain"})  # fmt: skip
    assert ours == theirs == (200, {})
