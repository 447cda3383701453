"""A TEST STAND-IN for a Qdrant server. It is NOT Qdrant.

Why: no Qdrant server binary exists on our machines, and qdrant-client's local mode
(``QdrantClient(path=DIR)``) serves one process only. Tests that need several processes
sharing one Qdrant (proxy replicas, a target outage as a real SIGSTOP / SIGKILL, shadow
search CPU outside the proxy) start this instead::

    python tests/qdrant_standin.py --port 6333 --path DIR [--host 127.0.0.1] [--api-key K]

What it is: an aiohttp server answering the Qdrant REST routes qdrant-client (1.20) uses,
by delegating every call to qdrant-client's own local mode on ``DIR``. Bodies are parsed
with the REST models of ``qdrant_client.http.models``; answers use Qdrant's envelope
``{"result", "status": "ok", "time"}``, errors ``{"status": {"error"}, "time"}`` with
Qdrant's codes (400 bad input / bad JSON, 401 missing or wrong api key, 404 missing
collection or point, 409 already exists, 422 validation, 501 a route not served here).
``GET /`` reports the installed qdrant-client's version so the client does not warn.
``wait``, ``ordering``, ``consistency`` and ``timeout`` parameters are accepted and ignored.

Served: ``/`` ``/healthz`` ``/livez`` ``/readyz``; collections list, get, exists, create
(PUT), delete, update (PATCH: metadata, sparse vectors); payload index create / delete
(accepted, no effect, not listed in ``payload_schema``: local mode has no indexes); points
upsert (list and batch forms), delete (ids or filter), retrieve (POST and GET by id),
scroll (also ``order_by``), count, query, query batch, query groups, facet, search matrix
(pairs, offsets), set / overwrite / delete / clear payload, update / delete vectors,
batch update; aliases (list, per collection, change).

What it is not: a Qdrant. No HNSW (every search is local mode's exact brute force;
``params`` ignored), no quantization, snapshots, shard keys, cluster, named-vector
create / delete, optimizations, telemetry or metrics routes (501). One node, everything in
RAM. Answers are local mode's: scores computed in float64, collection status always
green, ``payload_schema`` empty. Writes survive a death of the process (SIGKILL included),
not a crash of the host (see ``tune_storage``).

One process owns ``DIR``: local mode holds an exclusive flock on ``DIR/.lock``. The
kernel drops it when the process dies, so a relaunch after SIGKILL opens the same data
(the file itself stays, harmlessly); a second stand-in on a ``DIR`` in use exits with
status 2. Local mode is neither thread-safe nor asynchronous: every call runs on one
worker thread, so ``/healthz`` and friends keep answering while a long call runs.
SIGTERM / SIGINT: stop accepting, finish the requests in flight (up to 10 s), close local
mode (releases the lock), exit 0. SIGSTOP / SIGCONT freeze and thaw it like any process.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import logging
import re
import sqlite3
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import pydantic
from aiohttp import web
from qdrant_client import QdrantClient
from qdrant_client.http import models as m

log = logging.getLogger("qdrant-standin")
VERSION = importlib.metadata.version("qdrant-client")
NO_AUTH = {"/", "/healthz", "/livez", "/readyz"}  # as Qdrant: these never need the key
BAD_NAME = re.compile(r'[<>:"/\\|?*\x00]')
DUMP = pydantic.TypeAdapter(Any)


class ApiError(Exception):
    """An answer other than 200, with Qdrant's status code and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def classify(exc: BaseException) -> ApiError:
    """Qdrant's status and message for a failure raised while parsing or in local mode."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, orjson.JSONDecodeError):
        return ApiError(400, f"Format error in JSON body: {exc}")
    if isinstance(exc, pydantic.ValidationError):
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                             for e in exc.errors()[:5])
        return ApiError(400, f"Format error in JSON body: {problems}")
    if isinstance(exc, ValueError | TypeError | KeyError):
        text = str(exc)
        if found := re.fullmatch(r"Collection (.+) not found", text):
            return ApiError(404, f"Not found: Collection `{found[1]}` doesn't exist!")
        if found := re.fullmatch(r"(Collection|Alias) (.+) already exists", text):
            return ApiError(409, f"Wrong input: {found[1]} `{found[2]}` already exists!")
        return ApiError(400, text if text.startswith("Wrong input") else f"Wrong input: {text}")
    log.exception("internal error", exc_info=exc)
    return ApiError(500, f"Service internal error: {type(exc).__name__}: {exc}")


def invalid(where: str, problem: str) -> ApiError:
    return ApiError(422, f"Validation error in {where}: [{problem}]")


def check_limit(value: int | None, field: str = "limit") -> None:
    if value is not None and value < 1:
        raise invalid("JSON body", f"{field}: value {value} invalid, must be 1 or larger")


def selector(body: Any) -> m.PointIdsList | m.FilterSelector:
    """The points a payload / vector operation names (``points`` or ``filter``)."""
    if body.points is not None:
        return m.PointIdsList(points=body.points)
    if body.filter is not None:
        return m.FilterSelector(filter=body.filter)
    raise ApiError(400, "Wrong input: Either list of point ids or filter must be provided")


def query_args(body: m.QueryRequest | m.QueryGroupsRequest) -> dict[str, Any]:
    """Keyword arguments of ``query_points`` with the server's defaults (no payload)."""
    check_limit(body.limit)
    return dict(query=body.query, using=body.using, prefetch=body.prefetch,
                query_filter=body.filter, search_params=body.params,
                score_threshold=body.score_threshold, limit=body.limit or 10,
                with_payload=body.with_payload or False, with_vectors=body.with_vector or False,
                lookup_from=body.lookup_from)


def query_request(body: m.QueryRequest) -> m.QueryRequest:
    check_limit(body.limit)
    return body.model_copy(update={"with_payload": body.with_payload or False,
                                   "with_vector": body.with_vector or False})


# -- the operations: (client, path parameters, parsed body) -> result ---------------------

Op = Callable[[QdrantClient, dict[str, str], Any], Any]


def tune_storage(c: QdrantClient) -> None:
    """Every collection's SQLite file in WAL mode with ``synchronous=NORMAL``.

    Local mode commits each point on its own, with an fsync: ~160-900 points/s here. In
    WAL mode a commit is a write to the OS without fsync (40x faster): it survives any
    death of this process (SIGKILL included), not a crash of the host, which a test
    stand-in need not survive. Reaches into local mode's internals; skipped if they moved.
    """
    for collection in getattr(getattr(c, "_client", None), "collections", {}).values():
        connection = getattr(getattr(collection, "storage", None), "storage", None)
        if isinstance(connection, sqlite3.Connection):
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")


def create_collection(c: QdrantClient, p: dict[str, str], body: m.CreateCollection) -> bool:
    name = p["c"]
    if not 1 <= len(name) <= 255 or BAD_NAME.search(name) or name in (".", ".."):
        raise invalid("path parameters", f"collection_name: invalid name {name!r}")
    sizes = ([body.vectors.size] if isinstance(body.vectors, m.VectorParams)
             else [v.size for v in (body.vectors or {}).values()])
    for size in sizes:
        if not 1 <= size <= 65536:
            raise invalid("JSON body", f"vectors.size: value {size} invalid, must be 1..65536")
    if c.collection_exists(name):
        raise ApiError(409, f"Wrong input: Collection `{name}` already exists!")
    created = c.create_collection(name, vectors_config=body.vectors,
                                  sparse_vectors_config=body.sparse_vectors,
                                  metadata=body.metadata)
    tune_storage(c)
    return created


def upsert(c: QdrantClient, p: dict[str, str], body: m.PointsList | m.PointsBatch) -> Any:
    points = body.points if isinstance(body, m.PointsList) else body.batch
    return c.upsert(p["c"], points, update_filter=body.update_filter,
                    update_mode=body.update_mode)


def get_point(c: QdrantClient, p: dict[str, str], _: None) -> Any:
    raw = p["id"]
    found = c.retrieve(p["c"], [int(raw) if raw.isdigit() else raw], with_vectors=True)
    if not found:
        raise ApiError(404, f"Not found: No point with id {raw} found")
    return found[0]


def scroll(c: QdrantClient, p: dict[str, str], body: m.ScrollRequest) -> m.ScrollResult:
    check_limit(body.limit)
    points, next_offset = c.scroll(
        p["c"], scroll_filter=body.filter, limit=body.limit or 10, order_by=body.order_by,
        offset=body.offset, with_payload=True if body.with_payload is None else body.with_payload,
        with_vectors=body.with_vector or False)
    return m.ScrollResult(points=points, next_page_offset=next_offset)


def facet(c: QdrantClient, p: dict[str, str], body: m.FacetRequest) -> Any:
    check_limit(body.limit)
    return c.facet(p["c"], body.key, facet_filter=body.filter, limit=body.limit or 10,
                   exact=bool(body.exact))


def matrix(kind: str) -> Op:
    def run(c: QdrantClient, p: dict[str, str], body: m.SearchMatrixRequest) -> Any:
        check_limit(body.limit)
        fn = c.search_matrix_pairs if kind == "pairs" else c.search_matrix_offsets
        return fn(p["c"], query_filter=body.filter, limit=body.limit or 3,
                  sample=body.sample or 10, using=body.using)
    return run


def groups(c: QdrantClient, p: dict[str, str], body: m.QueryGroupsRequest) -> Any:
    return c.query_points_groups(p["c"], body.group_by, group_size=body.group_size or 3,
                                 with_lookup=body.with_lookup, **query_args(body))


ROUTES: list[tuple[str, str, Any, Op]] = [
    ("GET", "/collections", None, lambda c, p, b: c.get_collections()),
    ("GET", "/aliases", None, lambda c, p, b: c.get_aliases()),
    ("POST", "/collections/aliases", m.ChangeAliasesOperation,
     lambda c, p, b: c.update_collection_aliases(b.actions)),
    ("GET", "/collections/{c}", None, lambda c, p, b: c.get_collection(p["c"])),
    ("GET", "/collections/{c}/exists", None,
     lambda c, p, b: m.CollectionExistence(exists=c.collection_exists(p["c"]))),
    ("GET", "/collections/{c}/aliases", None, lambda c, p, b: c.get_collection_aliases(p["c"])),
    ("PUT", "/collections/{c}", m.CreateCollection, create_collection),
    ("DELETE", "/collections/{c}", None, lambda c, p, b: c.delete_collection(p["c"])),
    ("PATCH", "/collections/{c}", m.UpdateCollection,
     lambda c, p, b: c.update_collection(p["c"], vectors_config=b.vectors,
                                         sparse_vectors_config=b.sparse_vectors,
                                         metadata=b.metadata) or True),
    ("PUT", "/collections/{c}/index", m.CreateFieldIndex,
     lambda c, p, b: c.create_payload_index(p["c"], b.field_name, b.field_schema)),
    ("DELETE", "/collections/{c}/index/{field}", None,
     lambda c, p, b: c.delete_payload_index(p["c"], p["field"])),
    ("PUT", "/collections/{c}/points", m.PointInsertOperations, upsert),
    ("POST", "/collections/{c}/points", m.PointRequest,
     lambda c, p, b: c.retrieve(p["c"], b.ids,
                                with_payload=True if b.with_payload is None else b.with_payload,
                                with_vectors=b.with_vector or False)),
    ("GET", "/collections/{c}/points/{id}", None, get_point),
    ("POST", "/collections/{c}/points/delete", m.PointsSelector,
     lambda c, p, b: c.delete(p["c"], b)),
    ("POST", "/collections/{c}/points/scroll", m.ScrollRequest, scroll),
    ("POST", "/collections/{c}/points/count", m.CountRequest,
     lambda c, p, b: c.count(p["c"], count_filter=b.filter, exact=b.exact is not False)),
    ("POST", "/collections/{c}/points/query", m.QueryRequest,
     lambda c, p, b: c.query_points(p["c"], offset=b.offset, **query_args(b))),
    ("POST", "/collections/{c}/points/query/batch", m.QueryRequestBatch,
     lambda c, p, b: c.query_batch_points(p["c"], [query_request(r) for r in b.searches])),
    ("POST", "/collections/{c}/points/query/groups", m.QueryGroupsRequest, groups),
    ("POST", "/collections/{c}/facet", m.FacetRequest, facet),
    ("POST", "/collections/{c}/points/search/matrix/pairs", m.SearchMatrixRequest,
     matrix("pairs")),
    ("POST", "/collections/{c}/points/search/matrix/offsets", m.SearchMatrixRequest,
     matrix("offsets")),
    ("POST", "/collections/{c}/points/payload", m.SetPayload,
     lambda c, p, b: c.set_payload(p["c"], b.payload, selector(b), key=b.key)),
    ("PUT", "/collections/{c}/points/payload", m.SetPayload,
     lambda c, p, b: c.overwrite_payload(p["c"], b.payload, selector(b))),
    ("POST", "/collections/{c}/points/payload/delete", m.DeletePayload,
     lambda c, p, b: c.delete_payload(p["c"], b.keys, selector(b))),
    ("POST", "/collections/{c}/points/payload/clear", m.PointsSelector,
     lambda c, p, b: c.clear_payload(p["c"], b)),
    ("PUT", "/collections/{c}/points/vectors", m.UpdateVectors,
     lambda c, p, b: c.update_vectors(p["c"], b.points, update_filter=b.update_filter)),
    ("POST", "/collections/{c}/points/vectors/delete", m.DeleteVectors,
     lambda c, p, b: c.delete_vectors(p["c"], b.vector, selector(b))),
    ("POST", "/collections/{c}/points/batch", m.UpdateOperations,
     lambda c, p, b: c.batch_update_points(p["c"], b.operations)),
]


# -- the server -----------------------------------------------------------------------------


def answer(status: int, body: dict[str, Any], started: float) -> web.Response:
    body["time"] = time.perf_counter() - started
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


class Standin:
    """Local mode on ``path``, served over HTTP; every local-mode call on one thread."""

    def __init__(self, path: str, api_key: str | None) -> None:
        self._path, self._api_key = path, api_key
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-mode")
        self._client: QdrantClient | None = None

    def open(self) -> None:
        """Open local mode on the worker thread (its SQLite connections belong to it)."""
        self._client = self._worker.submit(QdrantClient, path=self._path).result()
        self._worker.submit(tune_storage, self._client).result()

    async def close(self, _: web.Application | None = None) -> None:
        loop = asyncio.get_running_loop()
        if self._client is not None:
            await loop.run_in_executor(self._worker, self._client.close)
        self._worker.shutdown(wait=True)
        log.info("closed %s", self._path)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth], client_max_size=1 << 30)
        app.router.add_get("/", self._root)
        for route in ("/healthz", "/livez", "/readyz"):
            app.router.add_get(route, self._health)
        for method, path, body_type, op in ROUTES:
            app.router.add_route(method, path, self._handler(body_type, op))
        app.router.add_route("*", "/{tail:.*}", self._not_served)
        app.on_cleanup.append(self.close)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self._api_key is None or request.path in NO_AUTH:
            return await handler(request)
        given = request.headers.get("api-key")
        bearer = request.headers.get("Authorization", "")
        if given is None and bearer.startswith("Bearer "):
            given = bearer[len("Bearer "):]
        if given is None:
            error = "Must provide an API key or an Authorization bearer token"
        elif given != self._api_key:
            error = "Invalid API key or JWT"
        else:
            return await handler(request)
        return answer(401, {"status": {"error": error}}, time.perf_counter())

    async def _root(self, _: web.Request) -> web.Response:
        return web.json_response({"title": "qdrant test stand-in (qdrant-client local mode)",
                                  "version": VERSION, "commit": None})

    async def _health(self, request: web.Request) -> web.Response:
        text = "all shards are ready" if request.path == "/readyz" else "healthz check passed"
        return web.Response(text=text)

    async def _not_served(self, request: web.Request) -> web.Response:
        message = f"{request.method} {request.path} is not served by the Qdrant test stand-in"
        return answer(501, {"status": {"error": message}}, time.perf_counter())

    def _handler(self, body_type: Any, op: Op) -> Callable[[web.Request], Any]:
        parser = None if body_type is None else pydantic.TypeAdapter(body_type)

        async def handle(request: web.Request) -> web.Response:
            started = time.perf_counter()
            raw = await request.read()
            params = dict(request.match_info)

            def work() -> bytes:
                body = parser and parser.validate_python(orjson.loads(raw or b"{}"))
                result = op(self._client, params, body)  # type: ignore[arg-type]
                # nulls kept: a field left out would read back as the model's default
                return orjson.dumps(DUMP.dump_python(result, mode="json"))

            try:
                result = await asyncio.get_running_loop().run_in_executor(self._worker, work)
            except Exception as exc:
                error = classify(exc)
                return answer(error.status, {"status": {"error": error.message}}, started)
            took = time.perf_counter() - started
            body = b'{"result":%s,"status":"ok","time":%s}' % (result, repr(took).encode())
            return web.Response(body=body, content_type="application/json")

        return handle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True, help="local-mode data directory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--api-key", default=None, help="require this key (header api-key)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s qdrant-standin %(levelname)s %(message)s")
    # local mode's advice (no payload indexes, search params, collection size) is for
    # its own users; the stand-in knows
    warnings.simplefilter("ignore")
    standin = Standin(args.path, args.api_key)
    try:
        standin.open()
    except RuntimeError as exc:  # "Storage folder ... is already accessed by another instance"
        log.error("cannot open %s: %s", args.path, exc)
        return 2
    log.info("qdrant test stand-in (qdrant-client %s local mode) on http://%s:%d, data in %s",
             VERSION, args.host, args.port, args.path)
    web.run_app(standin.app(), host=args.host, port=args.port, print=None, access_log=None,
                shutdown_timeout=10, handle_signals=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
