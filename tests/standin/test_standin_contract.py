"""The VectorStore contract (tests/adapters/test_store_contract.py), unchanged, against
``QdrantStore`` over the Qdrant stand-in: the adapter's remote (URL) code path.

The contract's test functions are taken from its module as they are; the fixtures they
ask for (``store``, ``key``, ``store_factory``) come from this folder's conftest.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

_CONTRACT_DIR = str(Path(__file__).parents[1] / "adapters")
sys.path.insert(0, _CONTRACT_DIR)
try:
    # imported by name, as pytest itself imports it: one module object, asserts rewritten
    _contract = importlib.import_module("test_store_contract")
finally:
    sys.path.remove(_CONTRACT_DIR)

CONTRACT_TESTS = sorted(name for name in vars(_contract) if name.startswith("test_"))
globals().update({name: getattr(_contract, name) for name in CONTRACT_TESTS})


def test_the_contract_is_here() -> None:
    assert len(CONTRACT_TESTS) >= 8, CONTRACT_TESTS
    assert "test_query_agrees_across_stores" in CONTRACT_TESTS
