"""``starboard init``: a first semantic model written from an existing warehouse.

Only the CLI (``app/cli/starter.py``) imports this package; it builds on ``queries.semantic``
(the model it writes must load and validate there) and ``app.core``.
"""
