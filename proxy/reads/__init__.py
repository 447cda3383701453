"""The way of a read: forwarded to the primary, a sample shadowed to the other store and
compared (recall, rank, distances), a sticky canary share answered by the new store.

May import: ``proxy.core``, ``proxy.cluster``,
``proxy.upstream``, ``proxy.dialects``, ``adapters``.
"""
