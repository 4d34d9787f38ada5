"""Board periods: parsing the URL's period, stepping, last year, history, the default."""

from __future__ import annotations

from datetime import date

import pytest

from queries.semantic import periods
from queries.semantic.periods import (
    default_period,
    history,
    parse_board_period,
    previous,
    same_period_last_year,
    window_containing,
    window_from_key,
)


@pytest.mark.parametrize(
    ("text", "grain", "start", "end", "label"),
    [
        ("2026-10-31", "day", date(2026, 10, 31), date(2026, 11, 1), "31 October 2026"),
        ("2026-W43", "week", date(2026, 10, 19), date(2026, 10, 26), "Week 43, 2026"),
        ("2026-10", "month", date(2026, 10, 1), date(2026, 11, 1), "October 2026"),
        ("2026-12", "month", date(2026, 12, 1), date(2027, 1, 1), "December 2026"),
        ("2026-Q3", "quarter", date(2026, 7, 1), date(2026, 10, 1), "Q3 2026"),
        ("2026-Q4", "quarter", date(2026, 10, 1), date(2027, 1, 1), "Q4 2026"),
        ("2026", "year", date(2026, 1, 1), date(2027, 1, 1), "2026"),
    ],
)
def test_every_grain_parses_to_its_window_and_label(
    text: str, grain: str, start: date, end: date, label: str
) -> None:
    window = window_from_key(text)
    assert (window.key, window.grain, window.start, window.end, window.label) == (
        text,
        grain,
        start,
        end,
        label,
    )
    assert window_containing(grain, start + (end - start) // 2) == window


def test_iso_week_belongs_to_its_iso_year_across_new_year() -> None:
    # 1 January 2027 is a Friday: it is in ISO week 53 of 2026
    window = window_containing("week", date(2027, 1, 1))
    assert window.key == "2026-W53"
    assert (window.start, window.end) == (date(2026, 12, 28), date(2027, 1, 4))
    assert window.label == "Week 53, 2026"
    # 29 December 2025 (a Monday) already starts ISO week 1 of 2026
    assert window_containing("week", date(2025, 12, 31)).key == "2026-W01"


@pytest.mark.parametrize(
    ("start", "before", "after"),
    [
        ("2026-10-31", "2026-10-30", "2026-11-01"),
        ("2026-01-01", "2025-12-31", "2026-01-02"),
        ("2024-02-28", "2024-02-27", "2024-02-29"),
        ("2026-W01", "2025-W52", "2026-W02"),
        ("2026-W53", "2026-W52", "2027-W01"),
        ("2021-W01", "2020-W53", "2021-W02"),
        ("2026-01", "2025-12", "2026-02"),
        ("2026-12", "2026-11", "2027-01"),
        ("2026-Q1", "2025-Q4", "2026-Q2"),
        ("2026-Q4", "2026-Q3", "2027-Q1"),
        ("2026", "2025", "2027"),
    ],
)
def test_previous_and_next_step_one_period_across_year_boundaries(
    start: str, before: str, after: str
) -> None:
    window = window_from_key(start)
    assert previous(window).key == before
    assert periods.next(window).key == after
    assert periods.next(previous(window)) == window


@pytest.mark.parametrize(
    ("this", "last"),
    [
        ("2026-10", "2025-10"),
        ("2026-Q3", "2025-Q3"),
        ("2026", "2025"),
        ("2026-10-31", "2025-10-31"),
        ("2024-02-29", "2023-02-28"),  # no 29 February last year
        ("2026-W43", "2025-W43"),
        ("2026-W01", "2025-W01"),
    ],
)
def test_same_period_last_year(this: str, last: str) -> None:
    assert same_period_last_year(window_from_key(this)).key == last


def test_week_53_maps_to_last_week_of_a_52_week_year() -> None:
    assert same_period_last_year(window_from_key("2026-W53")).key == "2025-W52"
    assert same_period_last_year(window_from_key("2020-W53")).key == "2019-W52"
    assert same_period_last_year(window_from_key("2021-W52")).key == "2020-W52"


def test_history_is_oldest_first_and_ends_with_the_period() -> None:
    months = history(window_from_key("2026-03"))
    assert len(months) == 12
    assert [w.key for w in months][:3] == ["2025-04", "2025-05", "2025-06"]
    assert months[-1].key == "2026-03"
    weeks = history(window_from_key("2027-W02"), n=4)
    assert [w.key for w in weeks] == ["2026-W52", "2026-W53", "2027-W01", "2027-W02"]
    assert [w.key for w in history(window_from_key("2026"), n=1)] == ["2026"]
    with pytest.raises(ValueError):
        history(window_from_key("2026"), n=0)


@pytest.mark.parametrize(
    ("grain", "latest", "expected"),
    [
        ("month", date(2026, 10, 31), "2026-10"),  # data through the month's last day
        ("month", date(2026, 10, 30), "2026-09"),  # one day short: October is not complete
        ("month", date(2026, 11, 1), "2026-10"),
        ("quarter", date(2026, 9, 30), "2026-Q3"),
        ("quarter", date(2026, 10, 31), "2026-Q3"),
        ("quarter", date(2026, 12, 30), "2026-Q3"),
        ("year", date(2026, 12, 31), "2026"),
        ("year", date(2026, 12, 30), "2025"),
        ("week", date(2026, 10, 25), "2026-W43"),  # a Sunday ends ISO week 43
        ("week", date(2026, 10, 24), "2026-W42"),
        ("week", date(2027, 1, 3), "2026-W53"),
        ("day", date(2026, 10, 31), "2026-10-31"),
    ],
)
def test_default_is_the_last_complete_period_of_the_data_not_the_clock(
    grain: str, latest: date, expected: str
) -> None:
    assert default_period(grain, latest).key == expected


def test_no_period_gives_the_default_without_a_notice() -> None:
    window, notice = parse_board_period(None, "month", date(2026, 10, 31))
    assert (window.key, notice) == ("2026-10", None)
    assert parse_board_period("  ", "month", date(2026, 10, 31)) == (window, None)


def test_a_valid_period_of_the_boards_grain_is_used() -> None:
    window, notice = parse_board_period("2026-Q2", "quarter", date(2026, 10, 31))
    assert (window.key, window.label, notice) == ("2026-Q2", "Q2 2026", None)


def test_a_running_period_is_accepted() -> None:
    window, notice = parse_board_period("2026-10", "month", date(2026, 10, 15))
    assert (window.key, notice) == ("2026-10", None)
    assert periods.elapsed_fraction(window, date(2026, 10, 15)) == pytest.approx(15 / 31)
    assert not periods.is_complete(window, date(2026, 10, 15))
    assert periods.is_complete(window, date(2026, 10, 31))


@pytest.mark.parametrize(
    ("text", "grain", "words"),
    [
        ("banana", "month", ["'banana' is not a valid period", "a month such as 2026-10"]),
        ("2026-13", "month", ["'2026-13'", "2026-10"]),
        ("2026-Q5", "quarter", ["'2026-Q5'", "a quarter such as 2026-Q3"]),
        ("2025-W53", "week", ["'2025-W53'", "an ISO week such as 2026-W43"]),
        ("2026-02-30", "day", ["'2026-02-30'", "a day such as 2026-10-31"]),
        ("2026-Q3", "month", ["'2026-Q3' is a quarter", "one month at a time", "2026-10"]),
        ("2026", "week", ["'2026' is a year", "2026-W43"]),
        ("2026-12", "month", ["no data for December 2026 yet", "31 October 2026"]),
        ("1850-01", "month", ["'1850-01' is out of range"]),
    ],
)
def test_invalid_wrong_grain_or_future_period_gives_default_and_a_clear_notice(
    text: str, grain: str, words: list[str]
) -> None:
    latest = date(2026, 10, 31)
    window, notice = parse_board_period(text, grain, latest)
    assert window == default_period(grain, latest)
    assert notice is not None
    for word in words:
        assert word.lower() in notice.lower()
    assert f"Showing {window.label}." in notice


def test_a_repeated_query_key_uses_its_last_value() -> None:
    window, notice = parse_board_period(["2026-08", "2026-09"], "month", date(2026, 10, 31))
    assert (window.key, notice) == ("2026-09", None)


def test_a_very_long_bad_value_is_shortened_in_the_notice() -> None:
    _, notice = parse_board_period("x" * 500, "month", date(2026, 10, 31))
    assert notice is not None and len(notice) < 200


def test_unknown_grain_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown grain"):
        window_containing("fortnight", date(2026, 1, 1))


def test_goal_for_matches_the_period_key() -> None:
    goals = {"2026-10": 90000.0, "2026-Q4": 350000.0}
    assert periods.goal_for(goals, window_from_key("2026-10")) == 90000.0
    assert periods.goal_for(goals, window_from_key("2026-Q4")) == 350000.0
    assert periods.goal_for(goals, window_from_key("2026-09")) is None


def test_windows_are_hashable_and_stable_cache_keys() -> None:
    assert {window_from_key("2026-10"), window_from_key("2026-10")} == {window_from_key("2026-10")}
    assert window_from_key("2026-W43").short_label == "W43 2026"
    assert window_from_key("2026-10").short_label == "Oct 2026"
