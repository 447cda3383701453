"""The Qdrant test stand-in (tests/qdrant_standin.py): wire, fidelity to local mode, the
project's adapter over it, and its life as a process (SIGTERM, SIGKILL, SIGSTOP, sharing)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from qdrant_client import AsyncQdrantClient, QdrantClient
from qdrant_client import models as m
from qdrant_client.common.version_check import get_server_version, is_compatible
from qdrant_client.http.exceptions import UnexpectedResponse
from standin_support import QdrantStandin

from adapters import qdrant_reads
from adapters.base import (
    CollectionKey,
    CollectionMissing,
    CollectionSpec,
    GetRequest,
    QueryRequest,
    Record,
    Space,
    StoreRejected,
    StoreUnavailable,
)
from adapters.qdrant import QdrantStore
from adapters.qdrant_layout import collection_name

ROOT = Path(__file__).parents[2]
VERSION = __import__("importlib.metadata").metadata.version("qdrant-client")


def records(n: int, dim: int = 4, seed: int = 0, prefix: str = "r") -> list[Record]:
    rng = np.random.default_rng(seed)
    return [Record(f"{prefix}{i}", rng.standard_normal(dim).astype(np.float32),
                   {"i": i, "g": f"g{i % 3}", "even": i % 2 == 0}, f"doc {i}" if i % 2 else None)
            for i in range(n)]


def same(got: list[Record], want: list[Record]) -> bool:
    return [r.id for r in got] == [r.id for r in want] and all(
        g.same_as(w, tolerance=1e-6) for g, w in zip(got, want, strict=True))


# -- the wire ------------------------------------------------------------------------------


def test_root_reports_a_compatible_version_and_health_answers(
        shared_standin: QdrantStandin) -> None:
    server = get_server_version(shared_standin.url, {}, None, 5)
    assert server == VERSION and is_compatible(VERSION, server)
    root = httpx.get(shared_standin.url + "/").json()
    assert "stand-in" in root["title"]
    for path in ("/healthz", "/livez", "/readyz"):
        response = httpx.get(shared_standin.url + path)
        assert response.status_code == 200 and response.text
    client = QdrantClient(url=shared_standin.url)  # check_compatibility on: no warning
    try:
        assert client.info().version == VERSION
    finally:
        client.close()


def test_envelope_and_qdrant_status_codes(shared_standin: QdrantStandin) -> None:
    name = "wire-" + uuid.uuid4().hex[:8]
    with httpx.Client(base_url=shared_standin.url) as http:
        created = http.put(f"/collections/{name}", json={"vectors": {"size": 2,
                                                                     "distance": "Dot"}})
        body = created.json()
        assert created.status_code == 200 and body["result"] is True
        assert body["status"] == "ok" and isinstance(body["time"], float)

        def error(response: httpx.Response, status: int, *words: str) -> None:
            assert response.status_code == status, response.text
            body = response.json()
            assert set(body) == {"status", "time"}, body
            assert all(w in body["status"]["error"] for w in words), body

        error(http.put(f"/collections/{name}", json={"vectors": {"size": 2, "distance": "Dot"}}),
              409, "already exists")
        error(http.get("/collections/nope-missing"), 404, "Not found", "nope-missing")
        error(http.post("/collections/nope-missing/points/scroll", json={}), 404, "Collection")
        error(http.post(f"/collections/{name}/points/scroll", content=b"{not json"), 400,
              "Format error")
        error(http.post(f"/collections/{name}/points/count", json={"exact": "maybe"}), 400,
              "Format error")
        error(http.put(f"/collections/{name}/points", json={"points": [
            {"id": "not-a-uuid", "vector": [1, 2]}]}), 400, "Wrong input")
        error(http.put(f"/collections/{name}/points", json={"points": [
            {"id": 1, "vector": [1, 2, 3]}]}), 400, "dimension")
        error(http.post(f"/collections/{name}/points/scroll", json={"limit": 0}), 422, "limit")
        error(http.put("/collections/bad:name", json={"vectors": {"size": 2,
                                                                  "distance": "Dot"}}), 422)
        error(http.put("/collections/zero", json={"vectors": {"size": 0, "distance": "Dot"}}),
              422, "size")
        error(http.get(f"/collections/{name}/points/7"), 404, "No point")
        error(http.post(f"/collections/{name}/snapshots"), 501, "stand-in")
        upserted = http.put(f"/collections/{name}/points", params={"wait": "true",
                                                                  "ordering": "strong"},
                            json={"points": [{"id": 7, "vector": [1, 2]}]})
        assert upserted.json()["result"]["status"] == "completed"
        point = http.get(f"/collections/{name}/points/7").json()["result"]
        assert point["id"] == 7 and point["vector"] == [1.0, 2.0]
        assert http.delete(f"/collections/{name}").json()["result"] is True


def exercise(c: QdrantClient) -> list[Any]:
    """Every client call the stand-in serves, in an order that makes each one matter."""
    out: list[Any] = []
    rng = np.random.default_rng(5)
    vec = lambda n=4: [float(x) for x in rng.standard_normal(n)]  # noqa: E731
    out.append(c.create_collection("d", vectors_config=m.VectorParams(
        size=4, distance=m.Distance.COSINE), metadata={"owner": "t"}))
    out.append(c.create_collection("named", vectors_config={
        "a": m.VectorParams(size=3, distance=m.Distance.DOT),
        "b": m.VectorParams(size=2, distance=m.Distance.EUCLID)},
        sparse_vectors_config={"s": m.SparseVectorParams()}))
    out += [c.collection_exists("d"), c.collection_exists("none"),
            sorted(x.name for x in c.get_collections().collections)]
    out.append(c.update_collection("d", metadata={"more": 1}))
    out.append(c.create_payload_index("d", "g", m.PayloadSchemaType.KEYWORD))
    out.append(c.delete_payload_index("d", "g"))
    out.append(c.upsert("d", [m.PointStruct(id=i, vector=vec(), payload={
        "g": f"g{i % 3}", "n": i, "tags": ["x", f"t{i % 2}"], "none": None})
        for i in range(1, 21)]))
    out.append(c.upsert("d", m.Batch(ids=[21, 22, str(uuid.UUID(int=23))],
                                     vectors=[vec(), vec(), vec()],
                                     payloads=[{"n": 21}, {"n": 22}, {"n": 23, "g": "g0"}])))
    out.append(c.upsert("named", [m.PointStruct(id=str(uuid.UUID(int=i)), vector={
        "a": vec(3), "b": vec(2), "s": m.SparseVector(indices=[1, 5], values=[0.5, 0.25])})
        for i in range(1, 6)]))
    out.append(c.retrieve("d", [3, 1, 99], with_vectors=True))
    out.append(c.retrieve("d", [2], with_payload=m.PayloadSelectorExclude(exclude=["tags"])))
    page, offset = c.scroll("d", limit=7, with_vectors=True)
    out += [page, offset, c.scroll("d", limit=7, offset=offset)]
    out.append(c.scroll("d", limit=5, order_by=m.OrderBy(key="n", direction="desc"),
                        scroll_filter=m.Filter(must=[m.FieldCondition(
                            key="g", match=m.MatchValue(value="g1"))])))
    out += [c.count("d"), c.count("d", count_filter=m.Filter(must_not=[m.IsEmptyCondition(
        is_empty=m.PayloadField(key="tags"))]), exact=True)]
    query = vec()
    out.append(c.query_points("d", query=query, limit=5, with_vectors=True))
    out.append(c.query_points("d", query=query, limit=3, offset=2, score_threshold=-0.5,
                              search_params=m.SearchParams(exact=True),
                              query_filter=m.Filter(should=[
                                  m.FieldCondition(key="n", range=m.Range(gte=5, lt=15)),
                                  m.HasIdCondition(has_id=[21])])))
    out.append(c.query_points("named", query=vec(3), using="a", limit=2))
    out.append(c.query_points("named", query=m.SparseVector(indices=[5], values=[1.0]),
                              using="s", limit=2))
    out.append(c.query_batch_points("d", [m.QueryRequest(query=query, limit=2),
                                          m.QueryRequest(query=vec(), limit=3,
                                                         with_payload=True)]))
    out.append(c.query_points_groups("d", "g", query=query, limit=2, group_size=2))
    out.append(c.facet("d", "g"))
    out.append(len(c.search_matrix_pairs("d", sample=5, limit=2).pairs))
    out.append(c.search_matrix_offsets("d", sample=5, limit=2).ids.__len__())
    out.append(c.set_payload("d", {"new": 1}, points=[1, 2]))
    out.append(c.set_payload("d", {"deep": 2}, key="nest", points=m.Filter(must=[
        m.FieldCondition(key="n", match=m.MatchValue(value=3))])))
    out.append(c.overwrite_payload("d", {"only": True}, points=[4]))
    out.append(c.delete_payload("d", ["tags"], points=m.Filter(must=[m.FieldCondition(
        key="g", match=m.MatchValue(value="g2"))])))
    out.append(c.clear_payload("d", [5]))
    out.append(c.update_vectors("d", [m.PointVectors(id=6, vector=vec())]))
    out.append(c.delete_vectors("named", ["b"], points=[str(uuid.UUID(int=1))]))
    out.append(c.batch_update_points("d", [
        m.UpsertOperation(upsert=m.PointsList(points=[m.PointStruct(id=30, vector=vec())])),
        m.DeleteOperation(delete=m.PointIdsList(points=[7])),
        m.SetPayloadOperation(set_payload=m.SetPayload(payload={"b": 1}, points=[8])),
    ]))
    out.append(c.delete("d", [9, 10]))
    out.append(c.delete("d", m.FilterSelector(filter=m.Filter(must=[m.FieldCondition(
        key="n", range=m.Range(gt=18, lte=20))]))))
    out.append(c.update_collection_aliases([m.CreateAliasOperation(
        create_alias=m.CreateAlias(collection_name="d", alias_name="d-alias"))]))
    out += [c.get_aliases(), c.get_collection_aliases("d"), c.count("d-alias")]
    out.append(c.update_collection_aliases([m.DeleteAliasOperation(
        delete_alias=m.DeleteAlias(alias_name="d-alias"))]))
    out += [c.get_collection("d"), c.get_collection("named")]
    out.append(c.scroll("d", limit=100, with_vectors=True))
    out.append(c.scroll("named", limit=100, with_vectors=True))
    out += [c.delete_collection("named"), c.delete_collection("named")]
    return out


@pytest.mark.filterwarnings("ignore::UserWarning")  # local mode's advice, called directly
def test_every_served_call_answers_as_local_mode(
        shared_standin: QdrantStandin, tmp_path: Path) -> None:
    """The same calls through the stand-in and straight into local mode: equal answers."""
    remote = QdrantClient(url=shared_standin.url, check_compatibility=False)
    local = QdrantClient(path=str(tmp_path / "direct"))
    for name in ("d", "named"):  # the module's stand-in is shared
        remote.delete_collection(name)
    try:
        got, want = exercise(remote), exercise(local)
    finally:
        remote.delete_collection("d")
        remote.close()
        local.close()
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g == w, f"call #{i}: {g!r} != {w!r}"


def test_errors_reach_the_client_as_qdrant_errors(shared_standin: QdrantStandin) -> None:
    client = QdrantClient(url=shared_standin.url, check_compatibility=False)
    try:
        with pytest.raises(UnexpectedResponse) as missing:
            client.count("no-such-collection")
        assert missing.value.status_code == 404
        client.create_collection("twice", vectors_config=m.VectorParams(
            size=2, distance=m.Distance.DOT))
        with pytest.raises(UnexpectedResponse) as twice:
            client.create_collection("twice", vectors_config=m.VectorParams(
                size=2, distance=m.Distance.DOT))
        assert twice.value.status_code == 409
    finally:
        client.delete_collection("twice")
        client.close()


async def test_async_client(shared_standin: QdrantStandin) -> None:
    client = AsyncQdrantClient(url=shared_standin.url, check_compatibility=False)
    name = "async-" + uuid.uuid4().hex[:8]
    try:
        await client.create_collection(name, vectors_config=m.VectorParams(
            size=2, distance=m.Distance.EUCLID))
        assert await client.collection_exists(name)
        await client.upsert(name, [m.PointStruct(id=i, vector=[i, 0], payload={"i": i})
                                   for i in range(5)], wait=True)
        hits = (await client.query_points(name, query=[3.2, 0], limit=2)).points
        assert [h.id for h in hits] == [3, 4]
        assert (await client.count(name)).count == 5
        points, _ = await client.scroll(name, limit=2, with_payload=True)
        assert [p.payload for p in points] == [{"i": 0}, {"i": 1}]
        await client.delete(name, m.PointIdsList(points=[0]))
        assert (await client.count(name)).count == 4
    finally:
        await client.delete_collection(name)
        await client.close()


# -- the project's adapter over it ---------------------------------------------------------


async def test_adapter_reads_match_local_mode(shared_standin: QdrantStandin) -> None:
    """Chroma-semantics reads (filters, order_by pages, post-filtering) over the wire."""
    key = CollectionKey(name="reads-" + uuid.uuid4().hex[:8])
    data = records(60, seed=3)
    remote = QdrantStore.open(url=shared_standin.url, exact=True)
    local = QdrantStore.open(path=":memory:", exact=True)
    try:
        for store in (remote, local):
            await store.upsert(CollectionSpec(key=key, space=Space.L2), data,
                               positions=list(range(len(data))))
        name = collection_name(key)
        gets = [GetRequest(limit=7, offset=3), GetRequest(where={"g": "g1"}, limit=5),
                GetRequest(where={"$and": [{"i": {"$gte": 10}}, {"even": True}]}),
                GetRequest(ids=["r5", "r1", "nope"], with_embeddings=True),
                GetRequest(where_document={"$contains": "doc 1"}, limit=4)]
        queries = [QueryRequest(vectors=[data[0].embedding], k=5, exact=True,
                                with_embeddings=True),
                   QueryRequest(vectors=[data[1].embedding], k=4, where={"g": {"$ne": "g0"}})]

        async def answers(store: QdrantStore) -> list[Any]:
            def read(c: QdrantClient) -> list[Any]:
                target = qdrant_reads.ReadTarget(c, name, Space.L2, 4)
                out: list[Any] = [qdrant_reads.get(target, g) for g in gets]
                out += [qdrant_reads.count(target, {"even": False}),
                        qdrant_reads.all_have_seq(c, name)]
                out += [qdrant_reads.query(target, q) for q in queries]
                return out
            return await store.run(read)

        got, want = await answers(remote), await answers(local)
        assert all(same(g, w) and g for g, w in zip(got[:5], want[:5], strict=True))
        assert got[5:7] == want[5:7] == [30, True]
        for g, w in zip(got[7:], want[7:], strict=True):
            assert [[h.record.id for h in hits] for hits in g] == \
                [[h.record.id for h in hits] for hits in w]
            np.testing.assert_allclose([h.distance for h in g[0]], [h.distance for h in w[0]],
                                       rtol=1e-5)
    finally:
        await remote.close()
        await local.close()


async def test_adapter_errors_over_the_wire(shared_standin: QdrantStandin) -> None:
    store = QdrantStore.open(url=shared_standin.url)
    try:
        assert await store.health()
        with pytest.raises(CollectionMissing):
            await store.count(CollectionKey(name="never-made"))
        key = CollectionKey(name="dims-" + uuid.uuid4().hex[:8])
        await store.upsert(CollectionSpec(key=key), records(2))
        with pytest.raises(StoreRejected):  # the wire rejects it too
            await store.run(lambda c: c.upsert(collection_name(key), [m.PointStruct(
                id=1, vector=[1.0, 2.0])]))
    finally:
        await store.close()


# -- the process ---------------------------------------------------------------------------


async def test_restart_after_sigkill_keeps_every_acknowledged_write(
        qdrant_standin: QdrantStandin) -> None:
    key = CollectionKey(name="kept", database="db")
    data = records(40, seed=1)
    store = QdrantStore.open(url=qdrant_standin.url, timeout=2)
    try:
        await store.upsert(CollectionSpec(key=key, space=Space.COSINE), data)
        await store.delete(key, ["r0"])
        qdrant_standin.kill()
        assert (qdrant_standin.path / ".lock").exists()  # left behind; its flock is not
        assert not await store.health()
        qdrant_standin.start()  # same port, same data directory
        assert await store.count(key) == 39
        assert same(await store.get(key, [r.id for r in data[1:]]), data[1:])
        await store.upsert(CollectionSpec(key=key), records(1, prefix="after"))
        assert await store.count(key) == 40
    finally:
        await store.close()


def test_sigterm_exits_cleanly_and_releases_the_data(qdrant_standin: QdrantStandin) -> None:
    client = QdrantClient(url=qdrant_standin.url, check_compatibility=False)
    client.create_collection("t", vectors_config=m.VectorParams(size=2,
                                                                 distance=m.Distance.DOT))
    client.upsert("t", [m.PointStruct(id=1, vector=[1, 2])])
    client.close()
    assert qdrant_standin.stop() == 0
    assert "closed" in qdrant_standin.log_tail()
    direct = QdrantClient(path=str(qdrant_standin.path))  # the lock is free again
    try:
        assert direct.count("t").count == 1
    finally:
        direct.close()


def test_a_second_standin_on_the_same_data_is_refused(qdrant_standin: QdrantStandin) -> None:
    second = QdrantStandin(qdrant_standin.path, start_timeout=30)
    with pytest.raises(RuntimeError, match=r"exited \(2\)"):
        second.start()
    assert qdrant_standin.ready()


async def test_pause_is_an_outage_and_resume_ends_it(qdrant_standin: QdrantStandin) -> None:
    key = CollectionKey(name="paused")
    store = QdrantStore.open(url=qdrant_standin.url, timeout=1)
    try:
        await store.upsert(CollectionSpec(key=key), records(3))
        qdrant_standin.pause()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await store.count(key)
        assert time.monotonic() - started < 5
        assert not qdrant_standin.ready(timeout=0.3)
        qdrant_standin.resume()
        assert await store.count(key) == 3
        assert qdrant_standin.ready()
    finally:
        await store.close()
    qdrant_standin.pause()
    assert qdrant_standin.stop() == 0  # SIGTERM, then SIGCONT: a clean exit all the same


CHILD = textwrap.dedent("""
    import asyncio, sys
    import numpy as np
    from adapters.base import CollectionKey, CollectionSpec, Record
    from adapters.qdrant import QdrantStore

    async def main(url):
        store = QdrantStore.open(url=url)
        key = CollectionKey(name="shared")
        seen = [r.id for r in await store.get(key, ["from-parent"])]
        await store.upsert(CollectionSpec(key=key),
                           [Record("from-child", np.ones(4, np.float32), {"pid": 2})])
        await store.close()
        print(",".join(seen))

    asyncio.run(main(sys.argv[1]))
""")


async def test_two_processes_see_each_others_writes(qdrant_standin: QdrantStandin) -> None:
    key = CollectionKey(name="shared")
    parent = QdrantStore.open(url=qdrant_standin.url)
    other = QdrantStore.open(url=qdrant_standin.url)  # and a second client in this process
    try:
        await parent.upsert(CollectionSpec(key=key), records(1, prefix="from-parent"))
        await parent.upsert(CollectionSpec(key=key),
                            [Record("from-parent", np.zeros(4, np.float32), {"pid": 1})])
        command = [sys.executable, "-c", CHILD, qdrant_standin.url]
        child = await asyncio.to_thread(subprocess.run, command, cwd=ROOT, capture_output=True,
                                        text=True, timeout=120, check=False)
        assert child.returncode == 0, child.stderr
        assert child.stdout.strip() == "from-parent"
        got = await other.get(key, ["from-child", "from-parent"])
        assert [(r.id, r.metadata) for r in got] == [("from-child", {"pid": 2}),
                                                     ("from-parent", {"pid": 1})]
        assert await parent.count(key) == 3
    finally:
        await parent.close()
        await other.close()


def test_health_answers_while_a_long_write_runs(qdrant_standin: QdrantStandin) -> None:
    """Local mode runs on the worker thread: the event loop keeps answering meanwhile."""
    url = qdrant_standin.url
    httpx.put(f"{url}/collections/big", json={"vectors": {"size": 8, "distance": "Dot"}})
    rng = np.random.default_rng(0)
    body = orjson.dumps({"points": [{"id": i, "vector": rng.standard_normal(8).tolist()}
                                    for i in range(12000)]})
    writer = threading.Thread(target=httpx.put, args=(f"{url}/collections/big/points",),
                              kwargs={"content": body, "timeout": 120})
    writer.start()
    answered: list[float] = []  # health latencies seen while the write still ran
    try:
        with httpx.Client(timeout=5) as http:
            while writer.is_alive():
                started = time.monotonic()
                assert http.get(url + "/healthz").status_code == 200
                if writer.is_alive():
                    answered.append(time.monotonic() - started)
                time.sleep(0.05)
    finally:
        writer.join(120)
    assert httpx.post(f"{url}/collections/big/points/count", json={}).json()[
        "result"]["count"] == 12000
    assert len(answered) >= 3 and max(answered) < 1.5, answered


@pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")
async def test_api_key_is_required_when_set(tmp_path: Path) -> None:
    with QdrantStandin(tmp_path / "q", api_key="sekret") as standin:
        async with httpx.AsyncClient(base_url=standin.url) as http:
            assert (await http.get("/healthz")).status_code == 200
            assert (await http.get("/collections")).status_code == 401
            wrong = await http.get("/collections", headers={"api-key": "nope"})
            assert wrong.status_code == 401
            bearer = await http.get("/collections", headers={"Authorization": "Bearer sekret"})
            assert bearer.status_code == 200
        store = QdrantStore.open(url=standin.url, api_key="sekret")
        try:
            assert await store.health()
            assert await store.list_collections() == []
        finally:
            await store.close()
