"""Alert rules and the evaluator on hand-made series: no database, no Streamlit."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from data_access.alert_rules import DEFAULT_PATH, Rule, load_rules, parse_duration, parse_rules
from data_access.alerts import evaluate, metric_values, negative_words

T0 = datetime(2026, 11, 2, 10, 0)
MINUTE = timedelta(minutes=1)


def series(values, step=MINUTE, start=T0, key="") -> pd.DataFrame:
    """Buckets of a ratio metric whose value is ``values[i]`` (None = no data in that bucket)."""
    rows = [{"bucket": start + i * step, "key": key, "num": v, "den": 1.0, "n": 1.0}
            for i, v in enumerate(values) if v is not None]
    return pd.DataFrame(rows).astype({"bucket": "datetime64[us]"})


def run(rule: Rule, values, **kwargs):
    return evaluate(rule, metric_values(rule, series(values, **kwargs)))


ERRORS = Rule(name="HighErrorRate", metric="error_rate", operator=">", threshold=5.0, step=60, window=60, for_=120)


def at(minute: int) -> datetime:
    return T0 + minute * MINUTE


# --- the shipped file and the parser -------------------------------------------------------------

def test_the_shipped_rules_are_valid_and_cover_the_seed():
    rules = load_rules(DEFAULT_PATH)
    assert rules.problems == ()
    assert [r.name for r in rules.rules] == ["ServiceDown", "HighErrorRate", "SlowResponseTime", "DiskAlmostFull",
                                             "MemoryHigh", "LowSatisfaction", "EscalationSurge", "NegativeReviews"]
    by_name = {r.name: r for r in rules.rules}
    assert (by_name["HighErrorRate"].operator, by_name["HighErrorRate"].threshold) == (">", 5.0)
    assert by_name["SlowResponseTime"].threshold == 10_000
    assert (by_name["DiskAlmostFull"].threshold, by_name["MemoryHigh"].threshold) == (85, 90)
    assert (by_name["LowSatisfaction"].operator, by_name["LowSatisfaction"].threshold) == ("<", 4.0)
    assert by_name["EscalationSurge"].baseline_weeks == 4 and by_name["EscalationSurge"].threshold == 20
    assert {"terrible", "ужасно", "плохо", "никто не помог"} <= set(rules.negative_keywords)
    assert (rules.sla.uptime_percent, rules.sla.response_time_ms) == (99.9, 2000.0)


BROKEN = """\
groups:
  - name: critical
    rules:
      - alert: Good
        metric: error_rate
        condition: "> 5"
      - alert: NoSuchMetric
        metric: happiness
        condition: "> 5"
      - alert: BadCondition
        metric: uptime
        condition: "above 5"
      - alert: ClearOnTheWrongSide
        metric: disk_percent
        condition: "> 85"
        clear: 90
      - alert: Good
        metric: uptime
        condition: "< 50"
      - alert: NotAdditive
        metric: p95_response_time
        condition: "> 10000"
        step: 1m
        window: 5m
      - alert: AlsoGood
        metric: avg_rating
        condition: "< 4"
        step: 1h
        window: 1d
"""


def test_a_broken_rule_names_its_line_and_the_rest_still_work():
    rules = parse_rules(BROKEN, "alerts.yml")
    assert [r.name for r in rules.rules] == ["Good", "AlsoGood"]
    found = [(p.line, p.rule) for p in rules.problems]
    assert found == [(7, "NoSuchMetric"), (10, "BadCondition"), (13, "ClearOnTheWrongSide"), (17, "Good"),
                     (20, "NotAdditive")]
    assert "unknown metric 'happiness'" in str(rules.problems[0])
    assert str(rules.problems[0]).startswith("line 7, rule NoSuchMetric: ")
    assert rules.rules[1].window == 86400 and rules.rules[1].step == 3600


@pytest.mark.parametrize("text, line", [
    ("groups: [\n  - oops", 2),               # not YAML
    ("- just\n- a list\n", 1),                # YAML of the wrong shape
    ("groups:\n  - name: x\n    rules: 5\n", 2),
])
def test_a_file_that_is_not_rules_is_one_problem_never_an_exception(text, line):
    rules = parse_rules(text)
    assert rules.rules == () and len(rules.problems) == 1 and rules.problems[0].line == line


def test_a_missing_file_is_a_problem(tmp_path):
    rules = load_rules(tmp_path / "nowhere.yml")
    assert rules.rules == () and "cannot read nowhere.yml" in str(rules.problems[0])


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("5m", 300), ("2h", 7200), ("1d", 86400), ("1w", 604800),
                                           (0, 0), (" 3m ", 180)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5", "5 minutes", "-1m", "1.5h", True, "m"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


# --- the evaluator ---------------------------------------------------------------------------------

def test_a_spike_shorter_than_for_does_not_fire():
    alerts, pending = run(ERRORS, [1, 1, 9, 1, 1, 1])
    assert alerts == [] and pending == {}


def test_a_longer_spike_fires_after_for_and_resolves_when_it_ends():
    # Bad from 10:02 (buckets 2–5), good again at 10:06: pending 10:02, fires at 10:04 (two full
    # bad minutes), resolves at 10:06.
    alerts, pending = run(ERRORS, [1, 1, 9, 9, 9, 12, 1, 1])
    assert len(alerts) == 1 and pending == {}
    alert = alerts[0]
    assert (alert.since, alert.fired_at, alert.resolved_at) == (at(2), at(4), at(6))
    assert (alert.peak, alert.last) == (12.0, 12.0)


def test_for_zero_fires_at_the_end_of_the_first_bad_bucket():
    rule = Rule(name="Now", metric="error_rate", operator=">", threshold=5.0)
    alerts, _ = run(rule, [1, 9, 1])
    assert [(a.since, a.fired_at, a.resolved_at) for a in alerts] == [(at(1), at(2), at(2))]


def test_hysteresis_keeps_it_firing_between_the_clear_and_fire_thresholds():
    values = [1, 6, 6, 4.5, 4.5, 6, 3.9, 1]
    plain = Rule(name="Plain", metric="error_rate", operator=">", threshold=5.0)
    with_clear = Rule(name="Sticky", metric="error_rate", operator=">", threshold=5.0, clear=4.0)
    assert [(a.since, a.resolved_at) for a in run(plain, values)[0]] == [(at(1), at(3)), (at(5), at(6))]
    assert [(a.since, a.fired_at, a.resolved_at) for a in run(with_clear, values)[0]] == [(at(1), at(2), at(6))]


def test_a_lower_limit_with_hysteresis():
    rule = Rule(name="LowRating", metric="avg_rating", operator="<", threshold=4.0, clear=4.2)
    alerts, _ = run(rule, [4.5, 3.9, 4.1, 4.19, 4.3, 4.5])
    assert [(a.since, a.resolved_at, a.peak) for a in alerts] == [(at(1), at(4), 3.9)]


def test_a_bucket_without_data_changes_nothing():
    # No data at 10:03 and 10:04: the alert neither resolves nor restarts its pending period.
    alerts, _ = run(ERRORS, [1, 9, 9, None, None, 9, 1])
    assert [(a.since, a.fired_at, a.resolved_at) for a in alerts] == [(at(1), at(3), at(6))]


def test_still_firing_and_pending_at_the_end():
    alerts, pending = run(ERRORS, [9, 9, 9, 9])
    assert [(a.since, a.fired_at, a.resolved_at, a.firing) for a in alerts] == [(at(0), at(2), None, True)]
    alerts, pending = run(ERRORS, [1, 1, 9], key="api")
    assert alerts == [] and pending == {"api": at(2)}


def test_each_label_value_is_its_own_alert():
    frame = pd.concat([series([1, 9, 9, 9, 1], key="api"), series([9, 9, 9, 1, 1], key="db")])
    alerts, _ = evaluate(ERRORS, metric_values(ERRORS, frame))
    assert [(a.key, a.since, a.resolved_at) for a in alerts] == [("db", at(0), at(3)), ("api", at(1), at(4))]


def test_a_rolling_window_sums_numerators_and_denominators():
    # 3 errors of 10 requests, then 0 of 10, 0 of 10: over 2 minutes 30 %, 15 %, 0 %.
    rule = Rule(name="Rolling", metric="error_rate", operator=">", threshold=20.0, window=120)
    frame = pd.DataFrame({"bucket": [at(0), at(1), at(2)], "key": "", "num": [300.0, 0.0, 0.0],
                          "den": [10.0, 10.0, 10.0], "n": [10.0, 10.0, 10.0]}).astype({"bucket": "datetime64[us]"})
    values = metric_values(rule, frame)
    assert values["value"].tolist() == [30.0, 15.0, 0.0]
    assert [(a.since, a.resolved_at) for a in evaluate(rule, values)[0]] == [(at(0), at(1))]


def test_windows_with_too_few_observations_have_no_value():
    rule = Rule(name="Few", metric="avg_rating", operator="<", threshold=4.0, min_count=5)
    frame = pd.DataFrame({"bucket": [at(0), at(1)], "key": "", "num": [3.0, 30.0], "den": [1.0, 10.0],
                          "n": [1.0, 10.0]}).astype({"bucket": "datetime64[us]"})
    assert metric_values(rule, frame)["value"].tolist()[1] == 3.0 and np.isnan(metric_values(rule, frame)["value"][0])


def baseline_series(last_week: dict[int, float]) -> pd.DataFrame:
    """Five weeks of hourly values: 10 every hour, except the hours of the last week given."""
    hour = timedelta(hours=1)
    values = [10.0] * (5 * 7 * 24)
    for h, v in last_week.items():
        values[4 * 7 * 24 + h] = v
    return series(values, step=hour, start=datetime(2026, 10, 5))


SURGE = Rule(name="Surge", metric="escalation_rate", operator=">", threshold=20.0, step=3600, window=3600,
             baseline_weeks=4)


def test_a_baseline_rule_fires_on_25_percent_above_normal_and_not_on_15():
    values = metric_values(SURGE, baseline_series({30: 12.5, 60: 11.5}))
    alerts, _ = evaluate(SURGE, values)
    start = datetime(2026, 10, 5) + timedelta(weeks=4)
    assert [(a.since, a.resolved_at, a.peak) for a in alerts] == [
        (start + timedelta(hours=30), start + timedelta(hours=31), pytest.approx(25.0))]
    # The first four weeks have no full baseline, so nothing is compared there.
    assert values["compared"].iloc[: 4 * 7 * 24].isna().all()


def test_the_baseline_is_the_mean_of_the_same_hour_of_the_week():
    frame = baseline_series({})
    frame.loc[frame["bucket"] == datetime(2026, 10, 5, 3), "num"] = 30.0  # one odd week, 4 weeks back
    values = metric_values(SURGE, frame).set_index("bucket")
    assert values.loc[datetime(2026, 11, 2, 3), "baseline"] == pytest.approx((30 + 10 + 10 + 10) / 4)
    assert values.loc[datetime(2026, 11, 2, 3), "compared"] == pytest.approx(100 * (10 / 15 - 1))


# --- negative keywords --------------------------------------------------------------------------

KEYWORDS = ("terrible", "awful", "плохо", "ужасно", "никто не помог")


@pytest.mark.parametrize("text, found", [
    ("Terrible: the bot did not understand me", ["terrible"]),
    ("AWFUL experience, awful!", ["awful"]),
    ("Плохо: бот зациклился", ["плохо"]),
    ("УЖАСНО, никто не помог с возвратом", ["ужасно", "никто не помог"]),
    ("Никто  не\tпомог.", ["никто не помог"]),
    ("awfully good service", []),           # whole words only
    ("неплохо, спасибо", []),
    ("плохой бот", []),
    ("Great support, thank you!", []),
    ("", []),
    (None, []),
])
def test_negative_keywords_match_whole_words_in_any_case(text, found):
    assert negative_words(text, KEYWORDS) == found


def test_a_rule_has_its_summary_in_russian_and_falls_back_to_english():
    from data_access.alert_rules import DEFAULT_PATH, load_rules, parse_rules

    shipped = load_rules(DEFAULT_PATH)
    assert all(rule.summary_ru for rule in shipped.rules)
    [rule] = parse_rules("groups:\n  - name: g\n    rules:\n      - alert: A\n        metric: csat\n"
                         "        condition: '< 50'\n        summary: Low.\n").rules
    assert rule.summary_in("ru") == rule.summary_in("en") == "Low."
    assert parse_rules("groups:\n  - name: g\n    rules:\n      - alert: A\n        metric: csat\n"
                       "        condition: '< 50'\n        summary_ru: 5\n").problems
