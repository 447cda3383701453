"""The ``vecbridge`` command line: ``serve``, the control verbs (calls to the admin API) and
the migration verbs (plan, backfill, validate, export, import).

May import: every package of ``proxy``, and ``adapters``.
"""
