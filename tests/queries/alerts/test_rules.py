"""The `alerts:` and `webhooks:` sections of the model: format and every error's place."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.config import DEMO_MODEL
from app.core.errors import ModelError
from queries.semantic.model import load_model, parse_model

BASE = DEMO_MODEL.read_text(encoding="utf-8")


def _with(extra: str, tmp_path: Path) -> Path:
    """The demo model with its alerts replaced by ``extra``."""
    head = BASE.split("\nwebhooks:", 1)[0]
    path = tmp_path / "model.yaml"
    path.write_text(head + "\n" + extra, encoding="utf-8")
    return path


def _problems(path: Path) -> list:
    with pytest.raises(ModelError) as info:
        load_model(path)
    return info.value.problems


def _line_of(path: Path, text: str) -> int:
    return next(
        i for i, line in enumerate(path.read_text().splitlines(), 1) if line.strip() == text
    )


def test_demo_model_declares_one_rule_of_each_kind() -> None:
    model = load_model(DEMO_MODEL)
    kinds = {rule.kind for rule in model.alerts.values()}
    assert kinds == {"threshold", "anomaly", "risk1", "stale"}
    tablet = model.alerts["tablet_tracking_gap"]
    assert (tablet.metric, tablet.where, tablet.grain, tablet.below) == (
        "visitors",
        ("device = tablet",),
        "day",
        1.0,
    )
    assert model.webhooks["ops"].url == "${DEMO_ALERT_WEBHOOK_URL}"
    assert model.webhooks["ops"].optional is True


def test_unknown_metric_names_file_line_and_key(tmp_path: Path) -> None:
    path = _with(
        "alerts:\n  broken:\n    kind: threshold\n    metric: revenu\n    above: 10\n", tmp_path
    )
    [problem] = _problems(path)
    assert problem.file == str(path)
    assert problem.line == _line_of(path, "metric: revenu")
    assert problem.key == "alerts.broken.metric"
    assert "unknown metric 'revenu'" in problem.message and "revenue" in problem.message


@pytest.mark.parametrize(
    ("rule", "key", "words"),
    [
        (
            "    kind: threshold\n    metric: revenue\n",
            "alerts.r",
            "needs 'above', 'below' or both",
        ),
        (
            "    kind: treshold\n    metric: revenue\n",
            "alerts.r.kind",
            "'treshold' is not one of threshold, anomaly, risk1, stale",
        ),
        ("    metric: revenue\n    above: 1\n", "alerts.r", "missing required key 'kind'"),
        (
            "    kind: anomaly\n    metric: revenue\n    direction: up\n",
            "alerts.r.direction",
            "'up' is not one of high, low, both",
        ),
        (
            "    kind: threshold\n    metric: revenue\n    above: lots\n",
            "alerts.r.above",
            "expected a number",
        ),
        (
            "    kind: threshold\n    metric: revenue\n    above: 1\n    where: country ~ DE\n",
            "alerts.r.where",
            "write 'dimension op value'",
        ),
        (
            "    kind: threshold\n    metric: revenue\n    above: 1\n    where: colour = red\n",
            "alerts.r.where",
            "unknown dimension 'colour'",
        ),
        (
            "    kind: anomaly\n    metric: spend\n    by: campain\n",
            "alerts.r.by",
            "unknown dimension 'campain'",
        ),
        (
            "    kind: threshold\n    metric: spend\n    above: 1\n    where: device = tablet\n",
            "alerts.r.where",
            "dimension 'device' cannot be reached from fct_marketing_spend",
        ),
        (
            "    kind: threshold\n    metric: revenue\n    above: 1\n    notify: pager\n",
            "alerts.r.notify",
            "unknown webhook 'pager'",
        ),
        ("    kind: stale\n    hours: -3\n", "alerts.r.hours", "expected a number above 0"),
        ("    kind: stale\n    metric: revenue\n", "alerts.r.metric", "unknown key 'metric'"),
        (
            "    kind: threshold\n    metric: revenue\n    above: 1\n    below: 5\n",
            "alerts.r.below",
            "no value could ever be normal",
        ),
    ],
)
def test_malformed_rules_say_what_and_where(
    tmp_path: Path, rule: str, key: str, words: str
) -> None:
    path = _with("alerts:\n  r:\n" + rule, tmp_path)
    problems = _problems(path)
    assert any(
        p.key == key and words in p.message and p.line and p.file == str(path) for p in problems
    ), [str(p) for p in problems]


def test_webhook_urls_must_be_http_with_well_formed_variables(tmp_path: Path) -> None:
    path = _with(
        "webhooks:\n  a: {url: 'ftp://example.com/x'}\n"
        "  b: {url: 'https://hooks.example.com/${TOKEN'}\n"
        "  c: {url: 'https://hooks.example.com/${1BAD}'}\n"
        "  d: {url: 'https://hooks.example.com/${GOOD_TOKEN}', colour: red}\n"
        "alerts:\n  r: {kind: stale, notify: [a, b, c, d, 'https://x.example/${T}']}\n",
        tmp_path,
    )
    found = {(p.key, p.message) for p in _problems(path)}
    assert ("webhooks.a.url", "'ftp://example.com/x' is not an http:// or https:// URL") in found
    assert ("webhooks.b.url", "unclosed '${': write ${VARIABLE}") in found
    assert ("webhooks.c.url", "'${1BAD}' is not an environment variable name") in found
    assert any(k == "webhooks.d.colour" and "unknown key 'colour'" in m for k, m in found)
    assert len(found) == 4


def test_all_problems_are_reported_together_sorted_by_line(tmp_path: Path) -> None:
    path = _with(
        "alerts:\n  one: {kind: threshold, metric: nope, above: 1}\n"
        "  two: {kind: anomaly, metric: spend, z: 0}\n",
        tmp_path,
    )
    problems = _problems(path)
    assert [p.key for p in problems] == ["alerts.one.metric", "alerts.two.z"]
    assert problems[0].line < problems[1].line


def test_a_model_without_alerts_has_none() -> None:
    text = BASE.split("\nwebhooks:", 1)[0]
    assert parse_model(text, "m.yaml").alerts == {}
