"""The HTTP front and the composition root: the server that takes app requests, the wiring
that builds every part at start-up (``server._lifecycle``) and ``vecbridge serve``.

May import: every package of ``proxy`` except ``proxy.cli``, and ``adapters``.
"""
