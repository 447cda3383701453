"""Operations: metrics, status, health, webhooks, config reload, the admin API and the
operator's control plane, over the running proxy's parts.

May import: every package below the HTTP front (``core``, ``cluster``, ``upstream``,
``journal``, ``dialects``, ``writes``, ``reads``, ``migration``) and ``adapters``.
"""
