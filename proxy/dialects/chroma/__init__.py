"""Everything that knows Chroma v2's wire format: routes, request bodies and their shapes,
collection objects and payloads, recorded service facts, change capture from a Chroma
primary, Chroma's write semantics applied to another store (cutover), the answers given
after finalize, and the Chroma side of read translation.

May import: ``proxy.core``, ``proxy.cluster``, ``proxy.upstream``, ``proxy.journal``, ``adapters``.
"""
