"""The shared nouns every other package speaks: configuration, events, background tasks,
the persisted state, the migration phase and the settings that change at run time.

May import: the standard library and third-party packages only (and ``proxy`` for the
version). Every other package of ``proxy`` may import this one.
"""
