"""The stores the proxy talks to: the primary reached over HTTP (raw forwarding), the
embedded Chroma child process, and the target opened through its adapter.

May import: ``proxy.core`` and ``adapters``.
"""
