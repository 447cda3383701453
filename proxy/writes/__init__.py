"""The way of a write: dual-write through the primary (intent, forward, capture, journal),
and from cutover on the choice of which store takes a write.

May import: ``proxy.core``, ``proxy.cluster``,
``proxy.upstream``, ``proxy.journal``, ``proxy.dialects``,
``adapters``.
"""
