"""The schedule as /pipeline says it: cron in words, next time due."""

from __future__ import annotations

from datetime import datetime

import pytest

from queries.quality.pipeline import cron_words, schedule_info


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("0 6 * * *", "every day at 06:00 UTC"),
        ("30 */4 * * *", "every 4 hours at :30"),
        ("15 * * * *", "every hour at :15"),
        ("*/10 * * * *", "every 10 minutes"),
        ("* * * * *", "every minute"),
        ("0 6 * * 1-5", "Monday to Friday at 06:00 UTC"),
        ("0 6 * * 1,3", "Mondays and Wednesdays at 06:00 UTC"),
        ("0 7 * * 0,7", "Sundays at 07:00 UTC"),
        ("0 0 1 * *", "on day 1 of every month at 00:00 UTC"),
        ("0 6,18 * * *", "every day at 06:00, 18:00 UTC"),
        ("@daily", "every day at 00:00 UTC"),
        ("0 6 * 1 *", ""),  # not a common shape: the cron alone is shown
        ("0 6 1 * 1", ""),  # day of month OR weekday: said wrongly in words, so not at all
        ("5,10 6 * * *", ""),
    ],
)
def test_cron_words(cron: str, words: str) -> None:
    assert cron_words(cron) == words


def test_schedule_info_gives_the_next_time_after_now() -> None:
    info = schedule_info("0 6 * * *", True, now=datetime(2026, 12, 3, 6, 0, 1))
    assert info.next_due == datetime(2026, 12, 4, 6, 0)
    assert info.in_server and info.words == "every day at 06:00 UTC"
    assert schedule_info(None, False).next_due is None


def test_each_output_fact_is_judged_against_its_slo_in_the_model() -> None:
    from app.core.config import DEMO_MODEL
    from queries.quality.freshness import FactTime
    from queries.quality.pipeline import freshness_against_slo
    from queries.semantic.model import load_model

    model = load_model(DEMO_MODEL)
    now = datetime(2026, 12, 3, 12, 0)
    times = (
        FactTime("fct_interaction", "fct_interaction.occurred_at", datetime(2026, 12, 3, 0, 0)),
        FactTime("fct_marketing_spend", "dim_date.date", datetime(2026, 12, 1, 0, 0)),
        FactTime("fct_gone", "fct_gone.at", None),  # not a table of the model: left out
    )
    rows = {r.table: r for r in freshness_against_slo(model, times, None, 6.0, now)}
    assert set(rows) == {"fct_interaction", "fct_marketing_spend"}
    inc, spend = rows["fct_interaction"], rows["fct_marketing_spend"]
    assert (inc.slo_hours, inc.age_hours, inc.status) == (6.0, 12.0, "breached")
    assert inc.slo_from == "default (STARBOARD_FRESHNESS_SLO_HOURS)"
    assert (spend.slo_hours, spend.age_hours, spend.status) == (48.0, 60.0, "breached")
    assert spend.slo_from == "model tables.fct_marketing_spend.freshness_hours"
    only = freshness_against_slo(model, times, ["fct_marketing_spend"], 36.0, now)
    assert [r.table for r in only] == ["fct_marketing_spend"]
