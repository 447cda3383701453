"""Chroma's write semantics on the cutover path, differentially against a real Chroma.

The same random write sequence (add / upsert / update / delete by ids, where and
where_document, duplicates, base64 and float embeddings, metadata merges with null
deletes, some invalid bodies) goes to a real Chroma directly and to the cutover path
over Qdrant (local mode). Every answer (status and body) must match, and at the end both
stores hold the same records. The reverse journal the cutover path wrote is then replayed
onto a second, empty Chroma: it must end up identical too (what a rollback relies on).
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import orjson
import pytest
from cutover_support import WriteGenerator, chroma_call, normalise

from adapters.base import CollectionKey, CollectionSpec, Space
from adapters.chroma import ChromaStore
from adapters.qdrant import QdrantStore
from proxy.dialects.chroma.cutover_catalog import TargetCollections
from proxy.dialects.chroma.cutover_records import CutoverRecords
from proxy.dialects.chroma.routes import classify
from proxy.journal.applier import apply_change
from proxy.journal.journal import SOURCE, Journal
from proxy.journal.locks import WriteLocks
from proxy.upstream.embedded_chroma import EmbeddedChroma

pytestmark = pytest.mark.timeout(300)


async def _all(store: ChromaStore | QdrantStore, key: CollectionKey) -> list:  # type: ignore[type-arg]
    records, cursor = [], None
    while True:
        page = await store.scroll(key, cursor, 500)
        records += page.records
        cursor = page.next_cursor
        if cursor is None:
            return records


def _same(a: dict, b: dict) -> None:  # type: ignore[type-arg]
    assert sorted(a) == sorted(b)
    for key in a:
        va, vb = a[key], b[key]
        assert va[0] == vb[0], f"{key}: vectors {va[0]} != {vb[0]}"
        assert va[1:] == vb[1:], f"{key}: {va[1:]} != {vb[1:]}"


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_writes_match_chroma(
    chroma_server: EmbeddedChroma, fresh_chroma: EmbeddedChroma, tmp_path: Path,
    unique_name: str, seed: int,
) -> None:  # fmt: skip
    async with aiohttp.ClientSession() as http:
        status, made = await chroma_call(http, chroma_server.url, "POST", "/collections",
                                         orjson.dumps({"name": unique_name}))  # fmt: skip
        assert status == 200
        key = CollectionKey(unique_name)
        target = QdrantStore.open(path=":memory:")
        journal = await Journal(tmp_path / "journal.sqlite").open()
        try:
            await target.create_collection(CollectionSpec(key, Space.L2, source_id=made["id"]))
            records = CutoverRecords(target, journal, TargetCollections(target), WriteLocks())
            generator = WriteGenerator(seed)
            mismatches = []
            for step in range(120):
                op, body = generator.next()
                raw = orjson.dumps(body)
                path = f"/collections/{made['id']}/{op}"
                want = await chroma_call(http, chroma_server.url, "POST", path, raw)
                route = classify("POST", "/api/v2/tenants/default_tenant/databases/"
                                 f"default_database/collections/{made['id']}/{op}")  # fmt: skip
                answer = await records.handle(route, raw, journal_source=True)
                got = (answer.status, orjson.loads(answer.body))
                if want[0] != got[0] or (want[0] < 400 and want[1] != got[1]) or (
                    want[0] >= 400 and want[1]["error"] != got[1]["error"]
                ):
                    mismatches.append((step, op, body, want, got))
            assert not mismatches, mismatches[:3]
            source = ChromaStore(chroma_server.url)
            expected = normalise(await _all(source, key))
            _same(expected, normalise(await _all(target, key)))
            assert expected, "the sequence should leave records behind"
            # the reverse journal rebuilds the same contents on an empty old store
            replica = ChromaStore(fresh_chroma.url)
            await replica.create_collection(CollectionSpec(key, Space.L2))
            for entry in await journal.read_after(0, 10_000, destination=SOURCE):
                await apply_change(replica, entry.change)
            _same(expected, normalise(await _all(replica, key)))
            assert await journal.read_after(0, 10) == []  # nothing for the new store
            await source.close()
            await replica.close()
        finally:
            await journal.close()
            await target.close()


NAN_B64 = "AADAfwAAgD8="  # [NaN, 1.0] as little-endian float32
EDGE_CASES: list[tuple[str, bytes]] = [
    ("add", b'{"ids":["a"],"embeddings":[[1,2]],"metadatas":[{"k":1}],"documents":["d"]}'),
    ("add", b'{"ids":["a","a"],"embeddings":[[3,3],[4,4]],"metadatas":[{"x":1},{"y":2}]}'),
    ("add", b'{"ids":["b"],"embeddings":[[1,2,3]]}'),
    ("add", b'{"ids":["b"],"documents":["x"]}'),
    ("add", b'{"ids":["b"],"embeddings":null}'),
    ("add", b'{"ids":["b"],"embeddings":[[1,1]],"metadatas":[{"x":{"a":1}}]}'),
    ("add", b'{"ids":["b"],"embeddings":[[1,1]],"metadatas":[{"x":null}]}'),
    ("add", b'{"ids":["b"],"embeddings":[[1,1]],"metadatas":[{"x":[1,"a"]}]}'),
    ("add", b'{"ids":["b"],"embeddings":[[1,1]],"metadatas":[{"#x":1}]}'),
    ("add", b'{"ids":[1],"embeddings":[[1,1]]}'),
    ("add", b'{"embeddings":[[1,1]]}'),
    ("add", b'{"ids":["b"],"embeddings":[[1,1]],"documents":[5]}'),
    ("add", b'{"ids":["b"],"embeddings":["' + NAN_B64.encode() + b'"]}'),
    ("add", b'{"ids":["b"],"embeddings":["!!!"]}'),
    ("add", b'{"ids":["b"],"embeddings":[[]]}'),
    ("add", b'{not json'),
    ("add", b'{"ids":[],"embeddings":[]}'),
    ("upsert", b'{"ids":["a"],"documents":["x"]}'),
    ("upsert", b'{"ids":["a"],"embeddings":[[5,5]],"metadatas":[{"z":3,"k":null}]}'),
    ("update", b'{"ids":["a","zz"],"embeddings":[[6,6],null],"documents":["new","no"]}'),
    ("update", b'{"ids":["a"],"metadatas":[{}]}'),
    ("update", b'{"ids":"a"}'),
    ("update", b'{"ids":["a"],"embeddings":[[1,2,3]]}'),
    ("delete", b'{"ids":[]}'),
    ("delete", b'{}'),
    ("delete", b'{"where":{"z":{"$bad":1}}}'),
    ("delete", b'{"ids":["a","a","nope"]}'),
]


async def test_edge_cases_answer_like_chroma(
    chroma_server: EmbeddedChroma, tmp_path: Path, unique_name: str
) -> None:
    """Fixed bodies (errors of every kind, duplicates, null merges): same status and body."""
    async with aiohttp.ClientSession() as http:
        _, made = await chroma_call(http, chroma_server.url, "POST", "/collections",
                                    orjson.dumps({"name": unique_name}))  # fmt: skip
        target = QdrantStore.open(path=":memory:")
        journal = await Journal(tmp_path / "journal.sqlite").open()
        try:
            key = CollectionKey(unique_name)
            await target.create_collection(CollectionSpec(key, Space.L2, source_id=made["id"]))
            records = CutoverRecords(target, journal, TargetCollections(target), WriteLocks())
            for op, raw in EDGE_CASES:
                path = f"/collections/{made['id']}/{op}"
                status, want = await chroma_call(http, chroma_server.url, "POST", path, raw)
                route = classify("POST", "/api/v2/tenants/default_tenant/databases/"
                                 f"default_database{path}")  # fmt: skip
                answer = await records.handle(route, raw, journal_source=True)
                got = orjson.loads(answer.body)
                assert answer.status == status, (raw, status, want, answer.status, got)
                if status < 400:
                    assert got == want, raw
                else:
                    assert got["error"] == want["error"], (raw, want, got)
            source = ChromaStore(chroma_server.url)
            try:
                _same(normalise(await _all(source, key)), normalise(await _all(target, key)))
            finally:
                await source.close()
        finally:
            await journal.close()
            await target.close()
