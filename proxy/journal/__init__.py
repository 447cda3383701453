"""The durable journal between the stores: normalised changes, their storage, the
write-ordering locks, the appliers that replay them onto the other store, and pruning.

Engine-neutral: speaks ``adapters.base`` (the ``VectorStore`` protocol and its records).
May import: ``proxy.core``, ``proxy.cluster``, ``adapters``.
"""
