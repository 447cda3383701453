"""A stand-in for the application: an unmodified chromadb client pointed at CHROMA_URL.

It writes and queries a few vectors in a loop, so the proxy has traffic to mirror and
compare. Replace it with your own app; the only change your app needs is its Chroma URL.
Embeddings are always passed explicitly (a client given bare documents would try to
download an embedding model).
"""

from __future__ import annotations

import os
import random
import sys
import time
import urllib.parse
from collections.abc import Sequence

import chromadb

DIMENSION = 8


def run_once(client: chromadb.api.ClientAPI, step: int) -> int:
    """Upsert one record and query for it; return how many results came back."""
    collection = client.get_or_create_collection("vecbridge-example")
    vector: Sequence[float] = [random.random() for _ in range(DIMENSION)]
    collection.upsert(
        ids=[f"doc-{step % 1000}"],
        embeddings=[vector],
        metadatas=[{"step": step}],
        documents=[f"document {step}"],
    )
    result = collection.query(query_embeddings=[vector], n_results=3)
    return len(result["ids"][0])


def main() -> int:
    """Loop forever (or once with --once), printing one line per step."""
    url = urllib.parse.urlsplit(os.environ.get("CHROMA_URL", "http://localhost:8000"))
    client = chromadb.HttpClient(host=url.hostname or "localhost", port=url.port or 8000)
    interval = float(os.environ.get("EXAMPLE_INTERVAL_SECONDS", "1"))
    step = 0
    while True:
        found = run_once(client, step)
        print(f"step {step}: query returned {found} ids", flush=True)
        if "--once" in sys.argv[1:]:
            return 0
        step += 1
        time.sleep(interval)


if __name__ == "__main__":
    sys.exit(main())
