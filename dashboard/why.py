""""Why did it change?" under a page's tiles: a tile's change split into the contributions of
platforms, intents, AI models or the pair of them that explains most, each split into mix and rate
(``data_access.change``): a sentence in the reader's words, a waterfall and a table whose rows
open the view filtered to their segment. The texts here serve the reports too.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from data_access import change
from data_access.catalogue import KPIS
from data_access.kpis import KpiValue
from data_access.filters import Filters
from dashboard import charts, format as fmt, names
from dashboard.filters import from_url, to_url
from dashboard.i18n import current_language, t

PICK_KEY, BY_KEY = "why", "why_by"  # kept in the URL (``filters.to_url``): a shared link opens the same split
BY = ("platform", "intent", "ai_model", "pair")
NAMED = 2  # the segments the sentence names
ALSO = 0.25  # the other effect of a named segment is named too when at least this share of the main one


def amount(value: float, unit: str, lang: str | None = None) -> str:
    """The size of a change (unsigned) in the KPI's unit: points for a share, else the unit's own."""
    size = abs(float(value))
    if unit == "percent":
        return f"{fmt.number(size, 2 if 0 < size < 0.1 else 1, lang)} {t('unit.pp', lang)}"
    if unit == "rating":
        return fmt.localized(f"{size:.2f}", lang)
    if unit == "nps":
        return fmt.number(size, 1, lang)
    return fmt.kpi_value(size, unit, lang)


def signed(value: float, unit: str, lang: str | None = None) -> str:
    """A contribution with its sign: ``+1.2 pp``, ``−$3.10``; ``0`` for none."""
    shown = amount(value, unit, lang)
    if not any(ch.isdigit() and ch != "0" for ch in shown):
        return shown
    return ("+" if value > 0 else "−") + shown


def segment_label(values: tuple, lang: str | None = None, text=fmt.plain_text) -> str:
    """A segment in words: its values, passed through ``text`` (``fmt.md_text`` for markdown),
    joined by " · "."""
    parts = []
    for dimension, value, several in values:
        if several:
            parts.append(t(f"why.several.{dimension}", lang))
        elif value is None:
            parts.append(t(f"why.none.{dimension}", lang))
        else:
            parts.append(text(names.intent(value, lang) if dimension == "intent" else value))
    return " · ".join(parts)


def _inline(label: str, lang: str | None) -> str:
    """A KPI label inside an English sentence: lower-case but for acronyms (CSAT, NPS)."""
    if (lang or current_language()) != "en" or label[:2].isupper():
        return label
    return label[:1].lower() + label[1:]


def _clause(found: change.Split, segment: change.Segment, lang: str | None, text) -> str:
    """What one named segment did, in words: how much of the change it holds, then why (its own
    value changed: rate; its share changed: mix; it appeared or vanished)."""
    unit = KPIS[found.key].unit
    values = {"segment": segment_label(segment.values, lang, text),
              "kpi": _inline(t(f"kpi.{found.key}.label", lang), lang),
              "before": fmt.kpi_value(segment.before, unit, lang), "after": fmt.kpi_value(segment.after, unit, lang)}
    against = bool(found.delta and segment.total) and (segment.total > 0) != (found.delta > 0)
    lead = "why.lead_against" if against else "why.lead"
    if found.kind == "sum" or segment.status != "both":
        detail = "sum" if found.kind == "sum" else segment.status
        out = t(lead, lang, amount=amount(segment.total, unit, lang), **values) + t(f"why.detail.{detail}", lang, **values)
    else:
        more = "more" if segment.share_after > segment.share_before else "fewer"
        shares = {"share_before": fmt.percent(100 * segment.share_before, 1, lang),
                  "share_after": fmt.percent(100 * segment.share_after, 1, lang)}
        main, other = ("rate", segment.rate), (more, segment.mix)
        if abs(segment.mix) > abs(segment.rate):
            main, other = other, main
        # The other effect is named too when it is large enough; the lead then holds the main one alone.
        both = ((other[1] > 0) == (main[1] > 0) and abs(other[1]) >= ALSO * abs(main[1])
                and amount(other[1], unit, lang) != amount(0, unit, lang))
        out = (t(lead, lang, amount=amount(main[1] if both else segment.total, unit, lang), **values)
               + t(f"why.detail.{main[0]}", lang, **values, **shares))
        if both:
            out += t(f"why.also.{other[0]}", lang, amount=amount(other[1], unit, lang), **values, **shares)
    if segment.few:
        out += " " + t("why.few_mark", lang)
    return out


def sentence(found: change.Split, lang: str | None = None, text=fmt.md_text) -> str:
    """The split in one sentence: how much the KPI changed and which segments it came from, each
    as rate (its own value changed) or mix (its share changed); values from the data passed
    through ``text`` (default: escaped for markdown)."""
    unit = KPIS[found.key].unit
    label = t(f"kpi.{found.key}.label", lang)
    if found.delta is None:
        return t("why.no_value", lang, kpi=label)
    if not found.segments or amount(found.delta, unit, lang) == amount(0, unit, lang):
        return t("why.unchanged", lang, kpi=label)
    head = t("why.head_up" if found.delta > 0 else "why.head_down", lang, kpi=label,
             amount=amount(found.delta, unit, lang))
    if found.kind == "percentile":
        first = found.segments[0]
        return head + ". " + t("why.percentile", lang, segment=segment_label(first.values, lang, text),
                               before=fmt.kpi_value(first.before, unit, lang), after=fmt.kpi_value(first.after, unit, lang))
    named = [s for s in found.segments[:NAMED] if s.total and amount(s.total, unit, lang) != amount(0, unit, lang)]
    return head + (": " + "; ".join(_clause(found, s, lang, text) for s in named) if named else "") + "."


def rows(found: change.Split, lang: str | None = None) -> pd.DataFrame:
    """The table under the sentence: the top segments and everything else, as text in the language."""
    unit = KPIS[found.key].unit
    shown, rest = found.top()
    out = []
    for segment in [*shown, *([rest] if rest else [])]:
        is_rest = segment is rest
        notes = [t(f"why.status.{segment.status}", lang)] if not is_rest and segment.status != "both" else []
        if segment.few and not is_rest:
            notes.append(t("kpi.few", lang))
        share = ("" if segment.share_before is None else
                 f"{fmt.percent(100 * segment.share_before, 1, lang)} → {fmt.percent(100 * segment.share_after, 1, lang)}")
        out.append({
            "segment": t("why.rest", lang, n=len(found.segments) - len(shown)) if is_rest else segment_label(segment.values, lang),
            "before": "" if is_rest else fmt.kpi_value(segment.before, unit, lang),
            "after": "" if is_rest else fmt.kpi_value(segment.after, unit, lang),
            "share": share,
            "mix": "" if segment.mix is None else signed(segment.mix, unit, lang),
            "rate": "" if segment.rate is None else signed(segment.rate, unit, lang),
            "total": "" if segment.total is None else signed(segment.total, unit, lang),
            "note": ", ".join(notes),
            "link": None if is_rest else segment_link(segment.values),
        })
    return pd.DataFrame(out, columns=["segment", "before", "after", "share", "mix", "rate", "total", "note", "link"])


def segment_link(values: tuple) -> str | None:
    """This view filtered to the segment (its values replace the filters of their dimensions, whose
    URL parameters are the dimensions' names): a relative link with the values bound as URL
    values; None for "several" or no value."""
    if any(several or value is None for _, value, several in values):
        return None
    params = {d for d, _, _ in values} | {PICK_KEY, BY_KEY}
    query = [(k, v) for k in st.query_params.keys() if k not in params for v in st.query_params.get_all(k)]
    query += [(d, value) for d, value, _ in values]
    return "?" + urlencode(query)


def waterfall(found: change.Split, lang: str | None = None):
    """The change as a waterfall: the previous value, each segment's contribution, the rest, the
    current value."""
    unit = KPIS[found.key].unit
    shown, rest = found.top()
    steps = [*shown, *([rest] if rest else [])]
    labels = [segment_label(s.values, lang) if s is not rest else t("why.rest", lang, n=len(found.segments) - len(shown))
              for s in steps]
    return charts.waterfall(t("why.previous", lang), t("why.current", lang), float(found.before), float(found.after),
                            labels, [float(s.total) for s in steps], [signed(s.total, unit, lang) for s in steps],
                            fmt.kpi_value(found.before, unit, lang), fmt.kpi_value(found.after, unit, lang),
                            t(f"kpi.{found.key}.label", lang))


def offer(url: str, filters: Filters, compared: Filters, keys, current: dict[str, KpiValue],
          previous: dict[str, KpiValue]) -> None:
    """Under the tiles: the tiles' KPIs that changed and can be split; the chosen one's split."""
    from dashboard import data
    from dashboard.tables import chart, table

    options = [k for k in keys if change.explained(k) and current[k].value is not None
               and previous.get(k) is not None and previous[k].value is not None]
    if not options:
        return
    lang = current_language()  # the labels' language, bound now (the widget formats again later)
    from_url(PICK_KEY, options)
    chosen = st.pills(t("why.pick"), options, format_func=lambda k: t(f"kpi.{k}.label", lang), key=PICK_KEY,
                      help=t("why.help"))
    to_url(PICK_KEY, chosen if chosen in options else None)
    if chosen not in options:
        return
    from_url(BY_KEY, BY, "platform")
    by = st.segmented_control(t("why.by"), BY, format_func=lambda b: t(f"why.by.{b}", lang), key=BY_KEY,
                              required=True) or "platform"
    to_url(BY_KEY, by)
    found = data.change_split(url, filters, compared, chosen, by)
    if found.kind == "percentile":  # the tiles' own values
        found = replace(found, before=float(previous[chosen].value), after=float(current[chosen].value))
    st.markdown(sentence(found))
    if not found.segments:
        return
    if found.exact:
        chart(waterfall(found), False, f"why_{chosen}")
    else:
        st.caption(t("why.not_exact"))
    frame = rows(found)
    text = st.column_config.TextColumn
    table(frame, {"segment": text(t("why.col.segment")), "before": text(t("why.col.before")),
                  "after": text(t("why.col.after")), "share": text(t("why.col.share"), help=t("why.col.share.help")),
                  "mix": text(t("why.col.mix"), help=t("why.col.mix.help")),
                  "rate": text(t("why.col.rate"), help=t("why.col.rate.help")),
                  "total": text(t("why.col.total"), help=t("why.col.total.help")),
                  "note": text(t("why.col.note")),
                  "link": st.column_config.LinkColumn(t("why.col.link"), display_text=t("why.open"))},
          f"why_{chosen}", f"why_table_{chosen}")
    st.caption(t("why.method"))
