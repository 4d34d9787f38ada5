"""The badge component: values in, what a person sees out."""

from __future__ import annotations

from components.trustbadge import MAX_LINES, badge, tooltip


def test_no_badge_when_nothing_fails() -> None:
    assert badge("ok", []) is None and badge("unknown", ["x"]) is None


def test_red_badge_for_a_blocking_failure_lists_the_checks() -> None:
    lines = [f"Risk 1 · fct.col [check_{i}]: {i} bad rows" for i in range(MAX_LINES + 2)]
    red = badge("fail", lines)
    assert red is not None and red.children == ["● ", "Check failed"]
    assert red.className == "sb-trust-badge sb-trust-red"
    title = red.title.splitlines()
    assert title[0] == "A blocking (Risk 1) quality check fails on this data:"
    assert title[1 : 1 + MAX_LINES] == lines[:MAX_LINES]
    assert title[-1] == "… and 2 more (see /quality)"


def test_compact_amber_badge_keeps_the_tooltip() -> None:
    amber = badge("warn", ["Risk 2 · t.c [n]: 3 of 10 row(s)"], compact=True)
    assert amber is not None and amber.children == ["● ", "DQ"]
    assert amber.title == tooltip("warn", ["Risk 2 · t.c [n]: 3 of 10 row(s)"])
