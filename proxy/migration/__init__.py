"""Migration control: phase moves and their preconditions, guard and ramp, backfill with
catch-up, validation, repair, the plan, export and import.

May import: ``proxy.core``, ``proxy.cluster``,
``proxy.upstream``, ``proxy.journal``, ``adapters``.
"""
