"""How replicas share one migration: the PostgreSQL connection and its versioned schema
(and, built on them, the replica registry, leases and fencing).

May import: ``proxy.core``.
"""
