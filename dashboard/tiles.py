"""KPI tiles: ``st.metric`` with the contract's label, the definition as help, and a delta."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from data_access.catalogue import MIN_COMPARED, too_few
from data_access.filters import Filters
from data_access.kpis import KPIS, NOT_TRACKED, KpiValue
from dashboard import format as fmt, why
from dashboard.i18n import t, tn

# What each KPI's n counts (``kpi.n.<unit>`` in the catalogues): the metrics catalogue's.
N_UNITS = {key: item.n_unit for key, item in KPIS.items()}


def range_summary(filters: Filters) -> str:
    """The range on screen in words: ``2026-10-29 – 2026-11-27 (UTC)``."""
    if filters.length.total_seconds() % 86400:
        return t("filters.summary_24h", start=fmt.moment(filters.start), end=fmt.moment(filters.end), tz=filters.tz)
    return t("filters.summary", start=fmt.day(filters.start_date), end=fmt.day(filters.end_date), tz=filters.tz)


def help_text(key: str, current: KpiValue, compared: Filters) -> str:
    """A tile's help, in the reader's words: what the number tells and the period it is compared
    with. The precise definition and the sample behind it are in ``definitions``."""
    meaning = t(f"kpi.{key}.meaning")
    if current.value is None:
        reason = t("kpi.not_tracked" if current.reason == NOT_TRACKED else "kpi.no_data")
        return t("kpi.help_none", definition=meaning, reason=reason)
    return t("kpi.help", definition=meaning, previous=range_summary(compared))


def definitions(keys: Sequence[str], current: dict[str, KpiValue]) -> None:
    """Under a page's tiles, folded: each tile's precise definition and the sample behind it."""
    lines = []
    for key in dict.fromkeys(keys):
        value = current.get(key)
        sample = ""
        if value is not None and value.value is not None:
            sample = " " + t("kpi.sample", n_units=tn(f"kpi.n.{N_UNITS[key]}", value.n))
        lines.append(f"- **{t(f'kpi.{key}.label')}**: {t(f'kpi.{key}.definition')}{sample}")
    with st.expander(t("kpi.definitions"), icon=":material/menu_book:"):
        st.markdown("\n".join(lines))


def delta_color(key: str) -> str:
    better = KPIS[key].higher_is_better
    return "off" if better is None else ("normal" if better else "inverse")


FEW_NOTE = "kpi.few"


def too_few_to_compare(key: str, current: KpiValue, previous: KpiValue | None) -> bool:
    """Whether the delta of a sampled KPI rests on too few observations (``catalogue.too_few``)."""
    return (previous is not None and previous.value is not None and current.value is not None
            and too_few(KPIS[key].unit, current.n, previous.n, n_unit=N_UNITS[key]))


def kpi_tile(key: str, current: KpiValue, previous: KpiValue | None, compared: Filters) -> None:
    """One tile; ``previous`` is the KPI over ``compared``, the period the delta is against."""
    unit = KPIS[key].unit
    delta = fmt.kpi_delta(current.value, previous.value if previous else None, unit)
    unchanged = fmt.is_unchanged(delta)
    few = too_few_to_compare(key, current, previous)
    help_ = help_text(key, current, compared)
    if few and delta:
        delta = f"{delta} · {t(FEW_NOTE)}"
        help_ += "\n\n" + t("kpi.few.help", current=fmt.number(current.n), previous=fmt.number(previous.n),
                              least=fmt.number(MIN_COMPARED))
    st.metric(t(f"kpi.{key}.label"), fmt.kpi_value(current.value, unit), delta,
              delta_color="off" if unchanged or few else delta_color(key),
              delta_arrow="off" if unchanged else "auto",
              help=help_, border=True, width="stretch")


def kpi_row(keys: Sequence[str], current: dict[str, KpiValue], previous: dict[str, KpiValue],
            compared: Filters) -> None:
    """Tiles for ``keys`` in a row that wraps: four across a desktop, two across a phone
    (where ``st.columns`` would stack them one per row)."""
    with st.container(horizontal=True, gap="small"):
        for key in keys:
            kpi_tile(key, current[key], previous.get(key), compared)


def ignored_note(values: dict[str, KpiValue]) -> None:
    """A caption listing rows ignored for out-of-range values, if any."""
    items = [f"{t(f'kpi.{k}.label')}: {fmt.number(v.ignored)}" for k, v in values.items() if v.ignored]
    if items:
        st.caption(t("kpi.ignored", items="; ".join(items)))


def compared_note(compared: Filters) -> None:
    """Under a page's tiles, in plain words: what their deltas are measured against."""
    st.caption(t("kpi.compared", period=range_summary(compared)))


def pending_note(values: dict[str, KpiValue]) -> None:
    """A caption listing the observations not decided yet and left out of a KPI, if any."""
    items = [f"{t(f'kpi.{k}.label')} — {tn(f'kpi.n.{N_UNITS[k]}', v.pending)}" for k, v in values.items() if v.pending]
    if items:
        st.caption(t("kpi.pending", items="; ".join(items)))


def page_title(page_key: str, filters: Filters) -> None:
    """The page's title, and its caption followed by the range on screen."""
    st.title(t(page_key))
    st.caption(f"{t(page_key + '.caption')} · {range_summary(filters)}")


def kpi_section(url: str, filters: Filters, rows: Sequence[Sequence[str]]) -> dict[str, KpiValue]:
    """Tiles for the KPI keys of ``rows`` (a wrapping row each), with deltas against the
    comparison period and the ignored-rows note; returns the current values."""
    from dashboard import data
    from dashboard.filters import comparison_period

    keys = tuple(key for row in rows for key in row)
    compared = comparison_period(filters)
    current = data.kpi_values(url, filters, keys)
    previous = data.kpi_values(url, compared, keys)
    for row in rows:
        kpi_row(row, current, previous, compared)
    compared_note(compared)
    ignored_note(current)
    pending_note(current)
    definitions(keys, current)
    why.offer(url, filters, compared, keys, current, previous)
    return current
