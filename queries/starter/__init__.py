"""Getting started: a first semantic model written from an existing warehouse
(``starboard init``, init.py) and realistic mock data for any model (``starboard mock``,
mock.py).

Only the CLI (``app/cli/starter.py``, ``app/cli/mock.py``) imports this package; it builds on
``queries.semantic`` and ``app.core``.
"""
