"""Translation of qdrant-client failures into the ``adapters.base`` error hierarchy.

Done once, at the boundary (:func:`translate_errors` wraps every call the store makes)::

    connection refused, timeouts, 408/429/5xx, ResourceExhausted  -> StoreUnavailable
    404 naming a collection, local "Collection ... not found"        -> CollectionMissing
    other 4xx, ValueError/TypeError from bad input                   -> StoreRejected
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import httpx
from qdrant_client.common.client_exceptions import ResourceExhaustedResponse
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from adapters.base import CollectionMissing, StoreError, StoreRejected, StoreUnavailable

P = ParamSpec("P")
T = TypeVar("T")

_TRANSIENT_STATUS = {408, 429}


def _detail(exc: UnexpectedResponse) -> str:
    try:
        body = exc.structured()
        message = body.get("status", {}).get("error")
        if isinstance(message, str):
            return message
    except Exception:  # the body of an error is not always JSON
        pass
    return exc.content[:200].decode("utf-8", "replace")


def translate(exc: BaseException) -> StoreError | None:
    """The store error for ``exc``, or None when it is not a known engine failure."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, UnexpectedResponse):
        status = exc.status_code or 0
        message = f"qdrant answered {status}: {_detail(exc)}"
        if status >= 500 or status in _TRANSIENT_STATUS:
            return StoreUnavailable(message)
        if status == 404 and "collection" in message.lower():
            return CollectionMissing(message)
        return StoreRejected(message)
    if isinstance(exc, ResourceExhaustedResponse):
        return StoreUnavailable(f"qdrant is overloaded: {exc}")
    if isinstance(exc, ResponseHandlingException | httpx.TransportError | ConnectionError
                  | TimeoutError):
        source = getattr(exc, "source", exc)
        return StoreUnavailable(f"qdrant unreachable: {type(source).__name__}: {source}")
    if isinstance(exc, ValueError | TypeError):
        text = str(exc)
        if text.startswith("Collection ") and text.endswith(" not found"):
            return CollectionMissing(text)
        return StoreRejected(f"qdrant refused the input: {text}")
    if isinstance(exc, RuntimeError) and "already accessed" in str(exc):
        # local mode: another process holds the storage folder's lock
        return StoreUnavailable(str(exc))
    return None


def translate_errors(fn: Callable[P, T]) -> Callable[P, T]:
    """``fn`` with engine failures re-raised as store errors (the original chained)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            error = translate(exc)
            if error is None or error is exc:
                raise
            raise error from exc

    return wrapper
