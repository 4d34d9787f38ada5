"""The tree's decomposition rules on hand-computed cases, and on the demo's planted
mobile-checkout dip (March 2026 vs February 2026)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from app.core.config import load_settings
from app.core.runtime import Runtime, standalone
from app.loader.generate import planted_stories
from queries import tree
from queries.semantic.periods import window_from_key

# --------------------------------------------------------------------------- sum


def test_sum_contribution_is_each_childs_own_change() -> None:
    split = tree.sum_split((10.0, 12.5), [(4.0, 5.0), (6.0, 7.5)])
    assert split.method == "difference"
    assert split.contributions == pytest.approx((1.0, 1.5))
    assert split.points == pytest.approx((0.10, 0.15))  # of the parent's 10
    assert sum(split.contributions) == pytest.approx(12.5 - 10.0)
    assert split.residual == pytest.approx(0.0) and split.ranks == (2, 1)


def test_sum_that_does_not_add_up_keeps_the_rest_as_residual() -> None:
    split = tree.sum_split((10.0, 13.0), [(4.0, 5.0), (6.0, 7.0)])
    assert split.residual == pytest.approx(1.0) and "not explained" in split.note


# --------------------------------------------------------------------------- product


def test_product_log_share_worked_example() -> None:
    # revenue 100 → 90 = orders 10 → 9.5 × aov 10 → 9.4737 (README's worked example):
    # orders: −10 × ln(0.95) / ln(0.9) = −4.8684; aov: −10 × ln(0.94737) / ln(0.9) = −5.1316
    split = tree.product_split((100.0, 90.0), [(10.0, 9.5), (10.0, 90 / 9.5)])
    assert split.method == "log-share"
    assert split.contributions == pytest.approx((-4.868360, -5.131640), abs=1e-6)
    assert sum(split.contributions) == pytest.approx(-10.0)
    assert split.points == pytest.approx((-0.04868360, -0.05131640), abs=1e-8)
    assert split.ranks == (2, 1)


def test_ratio_log_share_gives_the_denominator_a_negative_share() -> None:
    # roas = revenue / spend: 200/100 = 2 → 210/120 = 1.75
    # revenue: −0.25 × ln(1.05) / ln(0.875) = +0.09135; spend: −0.25 × −ln(1.2) / ln(0.875)
    split = tree.product_split((2.0, 1.75), [(200.0, 210.0), (100.0, 120.0)], (1, -1))
    assert split.relation == "ratio" and split.method == "log-share"
    assert split.contributions == pytest.approx((0.0913459, -0.3413459), abs=1e-7)
    assert sum(split.contributions) == pytest.approx(-0.25)


def test_product_with_no_change_splits_the_offsetting_moves() -> None:
    # 10 × 10 = 100 → 20 × 5 = 100: ±100·ln 2 (the log mean of 100 and 100 is 100)
    split = tree.product_split((100.0, 100.0), [(10.0, 20.0), (10.0, 5.0)])
    assert split.contributions == pytest.approx((69.314718, -69.314718), abs=1e-6)
    assert sum(split.contributions) == pytest.approx(0.0, abs=1e-9)


def test_product_with_a_zero_falls_back_to_the_shapley_split() -> None:
    # 0 × 5 = 0 → 2 × 3 = 6: a: ½[(2·5 − 0·5) + (2·3 − 0·3)] = 8; b: ½[(0·3 − 0·5) + (2·3 − 2·5)]
    split = tree.product_split((0.0, 6.0), [(0.0, 2.0), (5.0, 3.0)])
    assert split.method == "shapley" and "Shapley" in split.note
    assert split.contributions == pytest.approx((8.0, -2.0))
    assert split.points == (None, None)  # no relative change from 0


def test_product_with_a_negative_value_adds_up_too() -> None:
    split = tree.product_split((-20.0, 30.0), [(-4.0, 6.0), (5.0, 5.0)])
    assert split.method == "shapley"
    assert split.contributions == pytest.approx((50.0, 0.0))


def test_three_factor_shapley_adds_up_exactly() -> None:
    before, after = (2.0, 3.0, -1.0), (4.0, 1.0, 2.0)
    phis = tree.shapley(before, after, (1, 1, 1))
    assert sum(phis) == pytest.approx(4 * 1 * 2 - 2 * 3 * -1)


def test_missing_value_makes_the_split_unavailable_and_says_which() -> None:
    split = tree.product_split((100.0, 90.0), [(10.0, None), (10.0, 9.0)], labels=["Orders", "AOV"])
    assert split.method == "unavailable" and split.contributions == (None, None)
    assert "Orders has no value" in split.note


# --------------------------------------------------------------------------- influence


def test_influence_ranks_by_correlation_weighted_change() -> None:
    parent = [1.0, 1.1, 1.0, 1.2, 1.1, 1.3, 1.2, 1.0]
    follows = [2.0, 2.2, 2.0, 2.4, 2.2, 2.6, 2.4, 2.0]  # r = +1 with the parent
    mirrors = [5.0, 4.5, 5.0, 4.0, 4.5, 3.5, 4.0, 5.0]  # moves the other way
    flat = [3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]  # no variation: no r
    split = tree.influence_ranking(
        (1.2, 1.0), [(2.4, 2.0), (4.0, 5.0), (3.0, 3.0)], parent, [follows, mirrors, flat]
    )
    assert split.method == "ranking" and "not an attribution" in split.note
    assert split.contributions == (None, None, None)
    assert split.correlations[0] == pytest.approx(1.0)
    assert split.correlations[1] < -0.9 and split.correlations[2] is None
    # parent fell 16.7 %: follows fell 16.7 % with r = 1 → score −0.1667, aligned +0.1667;
    # mirrors rose 25 % with r ≈ −1 → score ≈ −0.25, aligned ≈ +0.25: it explains more
    assert split.scores[0] == pytest.approx(-1 / 6)
    assert split.ranks == (2, 1, None)


def test_correlation_needs_enough_pairs() -> None:
    assert tree.correlation([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) is None
    assert tree.correlation([1.0, 2.0, 3.0, 5.0], [2.0, 4.0, 6.0, 10.0]) == pytest.approx(1.0)


# --------------------------------------------------------------------------- movers


def test_additive_movers_add_up_to_the_change() -> None:
    movers = tree.additive_movers({"a": 10.0, "b": 5.0}, {"a": 7.0, "c": 4.0})
    got = {m.value: m.contribution for m in movers}
    assert got == {"a": -3.0, "b": -5.0, "c": 4.0}
    assert sum(got.values()) == pytest.approx((7 + 4) - (10 + 5))
    assert [m.value for m in tree.top_movers(movers, 2)] == ["b", "c"]


def test_mix_rate_split_of_a_ratio() -> None:
    # before: A 10/100, B 40/400 → R = 0.1; after: A 10/300, B 40/400 → R = 50/700
    before = {"A": (10.0, 100.0), "B": (40.0, 400.0)}
    after = {"A": (10.0, 300.0), "B": (40.0, 400.0)}
    movers = {m.value: m for m in tree.mix_rate_movers(before, after)}
    r_bar = (0.1 + 50 / 700) / 2
    a_mix = (3 / 7 - 0.2) * ((0.1 + 1 / 30) / 2 - r_bar)
    a_rate = (0.2 + 3 / 7) / 2 * (1 / 30 - 0.1)
    b_mix = (4 / 7 - 0.8) * (0.1 - r_bar)
    assert movers["A"].mix == pytest.approx(a_mix) and movers["A"].rate == pytest.approx(a_rate)
    assert movers["B"].mix == pytest.approx(b_mix) and movers["B"].rate == pytest.approx(0.0)
    total = sum(m.contribution for m in movers.values())
    assert total == pytest.approx(50 / 700 - 0.1)
    assert movers["A"].before == pytest.approx(0.1) and movers["A"].after == pytest.approx(1 / 30)


def test_mix_rate_segment_that_appears_is_all_mix() -> None:
    movers = {
        m.value: m
        for m in tree.mix_rate_movers(
            {"A": (10.0, 100.0)}, {"A": (10.0, 100.0), "B": (30.0, 100.0)}
        )
    }
    assert movers["B"].rate == 0.0 and movers["B"].before is None
    assert sum(m.contribution for m in movers.values()) == pytest.approx(0.2 - 0.1)


def test_compare_and_grain_parsing() -> None:
    assert tree.parse_compare(None) == ("previous", None)
    assert tree.parse_compare(["previous", "last_year"]) == ("last_year", None)
    compare, notice = tree.parse_compare("bogus")
    assert compare == "previous" and "'bogus' is not a comparison" in (notice or "")
    assert tree.parse_grain("Quarter") == ("quarter", None)
    assert tree.parse_grain("x")[0] == "month"


# --------------------------------------------------------------------------- planted story

STORY_INTERACTIONS = 2_000_000
DIP = next(s for s in planted_stories() if s.name == "mobile_checkout_dip")


@pytest.fixture(scope="module")
def story_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """The demo at 2M interactions, seed 7 (about 4 s to build).

    Why 2M: February → March the calendar adds three days, so March has 7–17 % more
    visitors whatever the seed; the dip takes 7–16 % off conversion. At 400k (≈170 orders a
    month) seed 7 shows visitors, not conversion, as orders' larger part; at 2M (≈850
    orders) seed 7 shows conversion −15.6 points against visitors +9.6. Other seeds need not
    (seeds 1, 2, 4 show the calendar winning): the assertions below are about this
    warehouse, and the mobile top mover held for five of six seeds tried.
    """
    from app.loader.generate import generate
    from tests.conftest import demo_load

    root = tmp_path_factory.mktemp("tree_story")
    generate(root / "raw", interactions=STORY_INTERACTIONS, seed=7)
    url = f"duckdb:///{root / 'warehouse.duckdb'}"
    demo_load(root / "raw", url, rollups=False)
    settings = load_settings({"db_url": url, "cache": "null", "home": str(root / "home")})
    with standalone(settings) as rt:
        yield rt


MARCH = DIP.start.strftime("%Y-%m")


def test_dip_month_revenue_tree_ranks_orders_over_aov(story_runtime: Runtime) -> None:
    view = tree.tree_view("revenue", MARCH, "previous")
    assert view.window == window_from_key(MARCH)
    assert view.base_window.label == "February 2026"
    kids = {k.metric.name: k for k in view.root.children}
    assert kids["orders"].rank == 1 and kids["aov"].rank == 2
    assert abs(kids["orders"].contribution) > abs(kids["aov"].contribution)
    # exact: the shown contributions add up to revenue's change
    assert kids["orders"].contribution + kids["aov"].contribution == pytest.approx(
        view.root.value - view.root.base
    )
    orders = {k.metric.name: k for k in kids["orders"].children}
    assert orders["conversion_rate"].rank == 1
    assert orders["conversion_rate"].contribution < 0
    assert sum(k.contribution for k in orders.values()) == pytest.approx(
        kids["orders"].value - kids["orders"].base
    )
    # inside conversion rate, the checkout step leads the (influence) ranking
    funnel = {k.metric.name: k for k in orders["conversion_rate"].children}
    assert funnel["checkout_completion_rate"].rank == 1
    assert view.narrative[0].startswith("Revenue fell") and "vs February 2026" in view.narrative[0]
    assert "conversion rate" in view.narrative[1]


def test_dip_month_conversion_top_mover_is_mobile(story_runtime: Runtime) -> None:
    view = tree.tree_view("conversion_rate", MARCH, "previous")
    top = view.movers[0]
    assert (top.dimension, top.value) == ("device", DIP.device)
    assert top.contribution < 0 and top.rate is not None and top.rate < 0
    assert top.after < 0.7 * top.before  # mobile conversion fell > 30 %
    assert view.narrative[-1].startswith("The largest mover is device = mobile")


def test_mix_and_rate_add_up_over_a_dimension_on_real_rows(story_runtime: Runtime) -> None:
    model = tree.current_model(story_runtime)
    window = window_from_key(MARCH)
    base = window_from_key("2026-02")
    jobs = [
        j
        for j in tree.tree_jobs(model, "conversion_rate", window, base)
        if j.key.startswith("mover:channel_group")
    ]
    results = tree.run_jobs(jobs, story_runtime)
    frames = {j.key.rsplit(":", 1)[1]: results[j.key] for j in jobs}

    def side(frame):
        return {
            k: (a, b)
            for k, a, b in zip(
                frame["channel_group"], frame["orders"], frame["visitors"], strict=True
            )
        }

    movers = tree.mix_rate_movers(side(frames["before"]), side(frames["after"]))

    def rate(frame):
        return frame["orders"].sum() / frame["visitors"].sum()

    assert sum(m.contribution for m in movers) == pytest.approx(
        rate(frames["after"]) - rate(frames["before"])
    )
    assert all(math.isclose(m.contribution, m.mix + m.rate) for m in movers)


def test_the_narrative_writes_durations_in_their_unit() -> None:
    from queries.tree import _num

    assert _num(125.0, "duration") == "2m 05s"
    assert _num(125.0, "duration:minutes") == "2h 05m"
    assert _num(-90.0, "duration:minutes") == "\u22121h 30m"
    assert _num(4.25, "duration") == "4.3s"
