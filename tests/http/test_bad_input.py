"""Bad input gets the primary's own error, the proxy keeps serving, nothing reaches the target."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import chromadb
import orjson
import pytest
from chromadb.errors import InvalidArgumentError, NotFoundError
from harness import ProxyProcess, new_port, proxy_config

from proxy.upstream.embedded_chroma import EmbeddedChroma

SCOPE = "/api/v2/tenants/default_tenant/databases/default_database"
BODY_LIMIT = 4096


@pytest.fixture
def proxy(tmp_path: Path, chroma_server: EmbeddedChroma) -> Iterator[ProxyProcess]:
    config = proxy_config(
        tmp_path, chroma_server.url, new_port(), limits={"max_body_bytes": BODY_LIMIT}
    )
    process = ProxyProcess(tmp_path, config).start()
    yield process
    process.kill()


def _send(base: str, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
    request = urllib.request.Request(
        base + path, data=body, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _bad_requests(collection_id: str) -> list[tuple[str, str, str, bytes]]:
    records = f"{SCOPE}/collections/{collection_id}"
    return [
        ("malformed json", "POST", f"{records}/add", b'{"ids": ["a"], "embeddings": [[1,'),
        ("wrong dimension", "POST", f"{records}/add",
         orjson.dumps({"ids": ["a"], "embeddings": [[1.0, 2.0, 3.0, 4.0]]})),
        ("nan", "POST", f"{records}/upsert", b'{"ids": ["a"], "embeddings": [[NaN, 1.0, 2.0]]}'),
        ("infinity", "POST", f"{records}/add",
         b'{"ids": ["a"], "embeddings": [[1e999, 1.0, 2.0]]}'),
        ("empty id", "POST", f"{records}/add",
         orjson.dumps({"ids": [""], "embeddings": [[1, 2, 3]]})),
        ("unequal lengths", "POST", f"{records}/add",
         orjson.dumps({"ids": ["a", "b"], "embeddings": [[1, 2, 3]]})),
        ("unknown collection", "POST", f"{SCOPE}/collections/{uuid.uuid4()}/add",
         orjson.dumps({"ids": ["a"], "embeddings": [[1, 2, 3]]})),
        ("not a uuid", "POST", f"{SCOPE}/collections/not-a-uuid/upsert",
         orjson.dumps({"ids": ["a"], "embeddings": [[1, 2, 3]]})),
        ("invalid where", "POST", f"{records}/delete", orjson.dumps({"where": {"$bogus": 1}})),
        ("unknown name", "DELETE", f"{SCOPE}/collections/no-such-collection", None),
        ("bad collection name", "POST", f"{SCOPE}/collections", orjson.dumps({"name": "x"})),
    ]  # fmt: skip


def _comparable(body: bytes) -> object:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    return parsed


def test_bad_input_gets_the_primarys_own_error(
    proxy: ProxyProcess, chroma_server: EmbeddedChroma, unique_name: str
) -> None:
    client = chromadb.HttpClient(host="127.0.0.1", port=proxy.port)
    collection = client.create_collection(unique_name)
    collection.add(ids=["seed"], embeddings=[[0.0, 0.0, 1.0]])
    proxy.wait_caught_up()
    before = proxy.status()["journal"]
    for label, method, path, body in _bad_requests(str(collection.id)):
        direct = _send(chroma_server.url, method, path, body)
        proxied = _send(proxy.url, method, path, body)
        assert 400 <= direct[0] < 500, f"{label}: the source accepted it: {direct}"
        assert proxied[0] == direct[0], f"{label}: {proxied} != {direct}"
        assert _comparable(proxied[1]) == _comparable(direct[1]), label
    after = proxy.wait_caught_up()["journal"]
    assert after["head"] == before["head"], "a rejected write reached the journal"
    assert after["pending_intents"] == 0
    assert collection.count() == 1


def test_client_sees_the_same_exception_classes(proxy: ProxyProcess, unique_name: str) -> None:
    client = chromadb.HttpClient(host="127.0.0.1", port=proxy.port)
    collection = client.create_collection(unique_name)
    collection.add(ids=["a"], embeddings=[[1.0, 2.0, 3.0]])
    with pytest.raises(InvalidArgumentError):
        collection.add(ids=["b"], embeddings=[[1.0, 2.0]])
    with pytest.raises(NotFoundError):
        client.get_collection("does-not-exist")
    with pytest.raises(InvalidArgumentError):
        collection.get(where={"$nope": 1})
    assert collection.count() == 1


def test_body_over_the_limit_is_a_clear_413(proxy: ProxyProcess, unique_name: str) -> None:
    client = chromadb.HttpClient(host="127.0.0.1", port=proxy.port)
    collection = client.create_collection(unique_name)
    head = proxy.status()["journal"]["head"]
    big = orjson.dumps({"ids": ["a"], "embeddings": [[0.5] * 2000]})
    status, body = _send(proxy.url, "POST", f"{SCOPE}/collections/{collection.id}/add", big)
    assert status == 413
    error = orjson.loads(body)
    assert error["error"] == "PayloadTooLarge" and str(BODY_LIMIT) in error["message"]
    with pytest.raises(Exception, match=str(BODY_LIMIT)):
        collection.add(ids=["b"], embeddings=[[0.5] * 2000])
    # still serving, and nothing was journaled or applied
    collection.add(ids=["small"], embeddings=[[0.5] * 3])
    assert collection.count() == 1
    assert proxy.wait_caught_up()["journal"]["head"] == head + 1
