"""Where each key of a YAML document sits, so a problem can name its line."""

from __future__ import annotations

from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq


def collect_lines(node: Any, prefix: str, lines: dict[str, int]) -> None:
    """Record the 1-based line of every mapping key and list item under ``node`` in
    ``lines``, keyed by its dotted path (``sources.tickets.path``, ``checks.fct.0``)."""
    if isinstance(node, CommentedMap):
        for k in node:
            dotted = f"{prefix}.{k}" if prefix else str(k)
            pos = node.lc.data.get(k)
            if pos is not None:
                lines[dotted] = pos[0] + 1
            collect_lines(node[k], dotted, lines)
    elif isinstance(node, CommentedSeq):
        for i, item in enumerate(node):
            dotted = f"{prefix}.{i}"
            pos = node.lc.data.get(i)
            if pos is not None:
                lines[dotted] = pos[0] + 1
            collect_lines(item, dotted, lines)
