"""The translation layer: both catalogues complete and used, Russian formats from a table of cases."""

from __future__ import annotations

import re
import string
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from dashboard import format as fmt
from dashboard.i18n import EN, RU, t

ROOT = Path(__file__).resolve().parent.parent


def placeholders(text: str) -> list[str]:
    return sorted(name for _, name, _, _ in string.Formatter().parse(text) if name)


def test_both_catalogues_have_the_same_keys_and_placeholders():
    assert set(EN) == set(RU), sorted(set(EN) ^ set(RU))
    assert [k for k in EN if placeholders(EN[k]) != placeholders(RU[k])] == []


def dynamic_keys() -> set[str]:
    """Keys the code builds from a variable (t(f"kpi.{key}.label") …), from the same sources."""
    from data_access.ai import LATENCY_BINS
    from data_access.business import RESOLUTION_BINS
    from data_access.export import ABOUT_LABELS, COLUMN_NOTES, EXPORT_TABLES, FORMATS, OUTCOMES
    from data_access.kpis import KPIS
    from data_access.sql import BUCKETS
    from dashboard.charts import STATUS_COLORS
    from dashboard.auth import ROLES
    from dashboard.filters import PERIODS
    from dashboard.tiles import N_UNITS

    keys = {f"kpi.{k}.{part}" for k in KPIS for part in ("label", "meaning", "definition")}
    keys |= {f"bucket.{b}" for b in BUCKETS}
    keys |= {f"filters.period.{p}" for p in PERIODS} | {f"status.{s}" for s in STATUS_COLORS}
    keys |= {f"table.{name}" for name in EXPORT_TABLES} | {f"export.as_{kind}" for kind in FORMATS}
    keys |= {f"export.outcome.{o}" for o in OUTCOMES}
    keys |= {f"auth.role.{role}" for role in ROLES}
    from data_access.alert_rules import LABELS
    keys |= {f"alerts.by.{label}" for label in LABELS}
    from data_access.alert_watch import STATES as ALERTMANAGER_STATES
    keys |= {f"alerts.am.state.{state}" for state in ALERTMANAGER_STATES}
    keys |= {f"business.{p}" for p in ("promoters", "passives", "detractors")}
    keys |= {f"ai.by_{d}" for d in ("ai_model", "intent", "platform")} | {f"col.{d}" for d in ("ai_model", "intent", "platform")}
    keys |= {f"bin.resolution.{i}" for i in range(len(RESOLUTION_BINS))} | {f"bin.latency.{i}" for i in range(len(LATENCY_BINS))}
    keys |= {f"colnote.{c}" for c in COLUMN_NOTES} | {f"export.about.{k}" for k in ABOUT_LABELS}
    keys |= {f"{page}.caption" for page in EN if page.startswith("page.")}
    from data_access.alert_rules import METRICS, SEVERITIES
    keys |= {f"alerts.{part}.{m}" for m in METRICS for part in ("metric", "unit")}
    keys |= {f"alerts.severity.{s}" for s in SEVERITIES} | {f"sla.budget.{p}" for p in ("used", "left", "over")}
    keys |= {f"sla.{part}.{source}" for source in ("services", "integrations", "answers") for part in ("name", "section")}
    keys |= {f"business.impact.{m}{h}" for m in ("csat", "escalation_rate", "resolution_rate") for h in ("", ".help")}
    keys |= {f"messages.lookup.{kind}" for kind in ("dialog", "user")}
    from data_access.business import COMMENT_ORDERS
    keys |= {f"business.order.{o}" for o in COMMENT_ORDERS}
    from data_access.sla import VERDICTS
    keys |= {f"sla.verdict.{sla}.{part}" for sla, source in VERDICTS for part in (source, "fine", "missed")}
    from data_access.change import DIMENSIONS
    from dashboard.why import BY

    keys |= {f"why.by.{b}" for b in BY} | {f"why.{kind}.{d}" for d in DIMENSIONS for kind in ("several", "none")}
    keys |= {f"why.detail.{d}" for d in ("rate", "more", "fewer", "appeared", "vanished", "sum")}
    keys |= {f"why.also.{d}" for d in ("rate", "more", "fewer")} | {f"why.status.{s}" for s in ("appeared", "vanished")}
    keys |= {f"sla.section.{source}.note" for source in ("services", "integrations", "answers")}
    from data_access import prometheus

    keys |= {f"prom.error.{kind.__name__}" for kind in (prometheus.PrometheusError, *prometheus.PrometheusError.__subclasses__())}
    keys |= {f"import.{k}" for k in ("read", "imported", "duplicates", "rejected", "other")}
    from data_access.reports import KINDS

    keys |= {f"reports.{part}.{kind}" for kind in KINDS for part in ("kind", "title")}
    keys |= {f"reports.as_{kind}" for kind in ("html", "xlsx", "md")} | {k for k in EN if k.startswith("rec.")}
    return keys


def test_every_key_is_used_somewhere():
    literals = set()
    for path in list((ROOT / "dashboard").glob("*.py")) + list((ROOT / "pages").glob("*.py")):
        if path.name.startswith("i18n"):
            continue
        literals |= set(re.findall(r'"([a-z0-9_]+(?:\.[a-z0-9_]+)+)"', path.read_text()))
    unused = set(EN) - literals - dynamic_keys()
    assert not unused, sorted(unused)


@pytest.mark.parametrize("call, english, russian", [
    (lambda lang: fmt.number(1234.5, 1, lang), "1,234.5", "1\u00a0234,5"),
    (lambda lang: fmt.number(1234567, 0, lang), "1,234,567", "1\u00a0234\u00a0567"),
    (lambda lang: fmt.percent(81.234, lang=lang), "81.2 %", "81,2 %"),
    (lambda lang: fmt.percent(99.954, lang=lang), "99.95 %", "99,95 %"),
    (lambda lang: fmt.money(Decimal("1234.565"), lang), "$1,234.57", "1\u00a0234,57 $"),
    (lambda lang: fmt.duration_s(252, lang), "4 min 12 s", "4 мин 12 с"),
    (lambda lang: fmt.duration_s(3 * 3600 + 300, lang), "3 h 05 min", "3 ч 05 мин"),
    (lambda lang: fmt.duration_s(50 * 3600, lang), "2 d 02 h", "2 д 02 ч"),
    (lambda lang: fmt.duration_ms(845, lang), "845 ms", "845 мс"),
    (lambda lang: fmt.milliseconds(0.24, 1, lang), "0.2 ms", "0,2 мс"),
    (lambda lang: fmt.duration_ms(1840, lang), "1.84 s", "1,84 с"),
    (lambda lang: fmt.day(date(2026, 11, 27), lang), "2026-11-27", "27.11.2026"),
    (lambda lang: fmt.moment(datetime(2026, 11, 27, 9, 5), lang), "2026-11-27 09:05", "27.11.2026 09:05"),
    (lambda lang: fmt.kpi_value(4.016, "rating", lang), "4.02 / 5", "4,02 / 5"),
    (lambda lang: fmt.kpi_delta(72.5, 70.0, "percent", lang), "+2.5 pp", "+2,5 п.п."),
    (lambda lang: fmt.kpi_delta(20, 34, "nps", lang), "-14 pts", "-14 пунктов"),
    (lambda lang: fmt.kpi_delta(35, 34, "nps", lang), "+1 pt", "+1 пункт"),
    (lambda lang: fmt.kpi_delta(36, 34, "nps", lang), "+2 pts", "+2 пункта"),
    (lambda lang: fmt.kpi_delta(110, 100, "count", lang), "+10.0 %", "+10,0 %"),
    (lambda lang: fmt.file_size(1536, lang), "1.5 KB", "1,5 КБ"),
])
def test_formats_in_both_languages(call, english, russian):
    assert (call("en"), call("ru")) == (english, russian)


def test_t_takes_the_language():
    assert (t("kpi.dialogs.label", "en"), t("kpi.dialogs.label", "ru")) == ("Dialogs", "Диалоги")
    assert t("demo.built", "ru", rows="1 000", seconds="2,5") == "Демо-база готова за 2,5 с (строк: 1 000)."


@pytest.mark.parametrize("first, last, labels", [
    (datetime(2026, 10, 29), datetime(2026, 11, 27), ["2 нояб.", "9 нояб.", "16 нояб.", "23 нояб."]),
    (datetime(2026, 11, 20), datetime(2026, 11, 27), ["20 нояб.", "21 нояб.", "22 нояб.", "23 нояб.", "24 нояб.",
                                                      "25 нояб.", "26 нояб.", "27 нояб."]),
    (datetime(2026, 11, 26, 7), datetime(2026, 11, 27, 7), ["09:00<br>26 нояб.", "12:00", "15:00", "18:00", "21:00",
                                                            "00:00<br>27 нояб.", "03:00", "06:00"]),
    (datetime(2025, 1, 1), datetime(2026, 11, 27), ["янв. 2025", "апр. 2025", "июль 2025", "окт. 2025",
                                                    "янв. 2026", "апр. 2026", "июль 2026", "окт. 2026"]),
    (datetime(2026, 2, 1), datetime(2026, 7, 31), ["февр. 2026", "март 2026", "апр. 2026", "май 2026", "июнь 2026",
                                                   "июль 2026"]),
])
def test_russian_month_names_on_time_axes(first, last, labels):
    ticks, shown = fmt.time_ticks(first, last, "ru")
    assert shown == labels and all(first <= tick <= last for tick in ticks)


def test_a_russian_timeline_has_ticks_over_its_whole_period(monkeypatch):
    """The alert timeline spans the period, its bars only part of it: the ticks follow the axis."""
    import pandas as pd

    from dashboard import charts, tables

    monkeypatch.setattr(tables, "current_language", lambda: "ru")
    alerts = pd.DataFrame({"row": ["a"], "severity": ["critical"], "fired_at": [pd.Timestamp("2026-11-28 10:00")],
                           "until": [pd.Timestamp("2026-11-28 11:00")], "resolved_text": ["28.11.2026 11:00"]})
    fig = tables.localize(charts.alert_timeline(alerts, "Время", {"critical": "Критический", "warning": "Важный"},
                                                pd.Timestamp("2026-11-08"), pd.Timestamp("2026-12-08")))
    ticks = fig.layout.xaxis.tickvals
    assert min(ticks) < datetime(2026, 11, 10) and max(ticks) > datetime(2026, 12, 5)



@pytest.mark.parametrize("n, russian, english", [
    (1, "1 диалог", "1 dialog"), (2, "2 диалога", "2 dialogs"), (5, "5 диалогов", "5 dialogs"),
    (11, "11 диалогов", "11 dialogs"), (21, "21 диалог", "21 dialogs"), (22, "22 диалога", "22 dialogs"),
    (25, "25 диалогов", "25 dialogs"), (46433, "46\u00a0433 диалога", "46,433 dialogs"), (0, "0 диалогов", "0 dialogs"),
])
def test_counts_take_the_languages_plural_forms(n, russian, english):
    from dashboard.i18n import tn

    assert tn("kpi.n.dialogs", n, "ru") == russian and tn("kpi.n.dialogs", n, "en") == english


def test_every_plural_has_each_languages_forms_and_every_unit_one():
    from babel import Locale

    from dashboard.i18n import PLURALS
    from dashboard.tiles import N_UNITS

    counted = {f"headline.n.{what}" for what in ("down", "degraded", "firing")} | {"alerts.n.negative_reviews"}
    assert {f"kpi.n.{unit}" for unit in N_UNITS.values()} | {"unit.points"} | counted == set(PLURALS["en"]) == set(PLURALS["ru"])
    for lang, plurals in PLURALS.items():
        categories = set(Locale.parse(lang).plural_form.tags) | {"other"}
        for key, forms in plurals.items():
            assert set(forms) == categories, (lang, key)
            assert all("{n}" in form for form in forms.values()), (lang, key)


def test_no_text_says_s_in_parentheses():
    assert [k for k, v in EN.items() if "(s)" in v] == []
