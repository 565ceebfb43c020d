"""Why a KPI changed: its change between two periods split into the contributions of segments
(by platform, intent, AI model, or a pair of them), each contribution split into mix and rate.

Every catalogue KPI with a formula over measures is explained the same way: the sums of its
formula's terms per segment in each period (``segment_terms``, one statement per period over the
same sources as the tile), then arithmetic (``decompose``). A KPI added to the catalogue is
explained with no code of its own.

- A ratio R = scale · Σnum / Σden (CSAT, escalation rate, conversion…) is Σ wᵢ·rᵢ, with wᵢ =
  denᵢ / Σden the segment's share of the observations (ratings, dialogs, messages) and rᵢ its own
  value. The change splits by Kitagawa's symmetric decomposition (the midpoint, two-factor
  shift-share), with the mix effect measured against the overall value:

      mixᵢ  = (wᵢ¹ − wᵢ⁰) · ((rᵢ⁰ + rᵢ¹) / 2 − (R⁰ + R¹) / 2)
      rateᵢ = (rᵢ¹ − rᵢ⁰) · (wᵢ⁰ + wᵢ¹) / 2

  Σ (mixᵢ + rateᵢ) = R¹ − R⁰ exactly: Δ(w·r) = Δw·r̄ + w̄·Δr for each segment, and Σ Δwᵢ = 0, so
  subtracting the overall value from the mix terms moves no sum; it makes a segment that grows
  at the average value explain nothing. A segment with no observations in one period has no value
  there; it takes its other period's, so its contribution is all mix ("appeared", "vanished").
- A sum (dialogs, messages, tokens, cost) splits additively: contributionᵢ = Sᵢ¹ − Sᵢ⁰.
- A percentile or median is not additive: each segment's own change is given, and the split
  says it is not exact.

A message falls in the segment of its own values. A dialog falls in one segment of a dimension:
the one value its messages have, or "several" (``rollups.dialog_segments``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from itertools import combinations

import pandas as pd
import sqlalchemy as sa

from data_access import catalogue, dialogs, plans, rollups, sources, sql
from data_access.catalogue import KPIS, Kpi, Percentile, Ratio, Total
from data_access.filters import Filters
from data_access.schema import Schema

DIMENSIONS = rollups.DIALOG_DIMENSIONS
PAIRS = tuple(combinations(DIMENSIONS, 2))
TOP = 5  # the segments named one by one; the others are "everything else"
SEVERAL = rollups.SEGMENT  # a column's suffix: 1 where a dialog has more than one value of the dimension


def explained(key: str) -> bool:
    """Whether KPI ``key`` can be split: a formula over the measures of messages or dialogs."""
    item = KPIS.get(key)
    return item is not None and item.formula is not None and item.level in ("messages", "dialogs")


def _allowed(keys: tuple[str, ...], dimensions: tuple[str, ...]) -> None:
    """KeyError for a KPI that cannot be split or a dimension not in ``DIMENSIONS`` (both are
    written into the SQL)."""
    if not keys or not all(explained(k) for k in keys) or not dimensions \
            or any(d not in DIMENSIONS for d in dimensions) or len(set(dimensions)) != len(dimensions):
        raise KeyError((keys, dimensions))


def _segment_columns(dimensions: tuple[str, ...]) -> list[str]:
    return [c for d in dimensions for c in (d, d + SEVERAL)]


def _typed(frame: pd.DataFrame, dimensions: tuple[str, ...]) -> pd.DataFrame:
    """``frame``'s segment columns as one type whatever its rows (none, or all NULL): text values
    and 0/1 flags, so frames of the same segments merge."""
    for d in dimensions:
        frame[d] = frame[d].astype(object).where(frame[d].notna(), None)
        frame[d + SEVERAL] = pd.to_numeric(frame[d + SEVERAL]).fillna(0).astype("int64")
    return frame


@plans.reader()
def segment_terms(chosen: plans.Plan, engine: sa.Engine, schema: Schema, filters: Filters, keys: tuple[str, ...],
                  dimensions: tuple[str, ...]) -> pd.DataFrame:
    """Per segment of ``dimensions`` over ``filters``: its values (``<dimension>`` and, 1 for a
    dialog with several values, ``<dimension>__several``) and, for each KPI of ``keys``, the sums
    of its formula's terms (``Formula.columns("<key>__")``) and, for a percentile, its value
    (``<key>__percentile``). A statement per level, over the tiles' sources: the terms summed over
    the segments are the tiles'."""
    _allowed(keys, dimensions)
    frame = None
    for level in ("messages", "dialogs"):
        items = [KPIS[k] for k in keys if KPIS[k].level == level]
        if items:
            part = _level_terms(chosen, engine, schema, level, items, dimensions)
            frame = part if frame is None else frame.merge(part, how="outer", on=_segment_columns(dimensions))
    return frame.reset_index(drop=True)


def _level_terms(chosen: plans.Plan, engine: sa.Engine, schema: Schema, level: str, items: list[Kpi],
                 dimensions: tuple[str, ...]) -> pd.DataFrame:
    dialect = engine.dialect.name
    keys = _segment_columns(dimensions)
    columns = {name: expr for item in items for name, expr in item.formula.columns(f"{item.key}__").items()}
    terms = ", ".join(f"{expr} AS {name}" for name, expr in columns.items())
    group = ", ".join(str(i + 1) for i in range(len(keys)))
    if level == "messages":
        needed = tuple(dict.fromkeys(m for item in items for m in item.formula.measures))
        source = sources.message_source(chosen, schema, dialect, names=needed, daily=True)
        values = ", ".join(f"{d}, 0 AS {d}{SEVERAL}" for d in dimensions)
        text = f"SELECT {values}, {terms} FROM ({source.text}) m GROUP BY {group}"
    else:
        source = dialogs.sums(chosen, schema, dialect, segments=dimensions)
        text = f"SELECT {', '.join(keys)}, {terms} FROM ({source.text}) s GROUP BY {group}"
    frame = _typed(sql.numeric(sql.read_frame(engine, text, source.params), list(columns)), dimensions)
    for item in items:
        if isinstance(item.formula, Percentile):
            percentiles = _typed(_segment_percentiles(chosen, engine, schema, item, dimensions), dimensions)
            frame = frame.merge(percentiles, how="left", on=keys)
    return frame


def _segment_percentiles(chosen: plans.Plan, engine: sa.Engine, schema: Schema, item: Kpi,
                         dimensions: tuple[str, ...]) -> pd.DataFrame:
    """Per segment, ``<key>__percentile``: from the latency histogram (one dimension) or the
    resolution histogram per segment, within ``rollups.LATENCY_RELATIVE_ERROR``; exact from the
    rows for the raw path and for response times by a pair."""
    name = f"{item.key}__percentile"
    fraction = item.formula.fraction
    keys = _segment_columns(dimensions)
    if item.formula.of == "resolution":
        frame = dialogs.percentiles(engine, chosen, schema, {c: c for c in keys}, {name: fraction}, segments=dimensions)
        return frame.drop(columns=["count"])
    if len(dimensions) > 1:  # the histogram is kept per one dimension: a pair reads the rows
        chosen = replace(chosen, rolled=None, late=(), reason="a pair of dimensions")
    frame = sources.percentiles(engine, chosen, schema, {d: d for d in dimensions}, {name: fraction},
                                per=dimensions[0] if len(dimensions) == 1 else None, daily=True)
    frame = frame.drop(columns=["timed"])
    for d in dimensions:
        frame[d + SEVERAL] = 0
    return frame


# --- the split ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Segment:
    """One segment's part of a change. ``values``: (dimension, value, several) per dimension
    (value None: messages without one; several: a dialog with more than one). ``before`` and
    ``after``: the segment's own KPI value; ``n_*`` its observations; ``share_*`` its share of
    them (ratios); ``mix`` + ``rate`` = ``total``, its contribution to the change (None where the
    split is not exact: percentiles). ``few``: too few observations to tell."""

    values: tuple[tuple[str, str | None, bool], ...]
    before: float | None
    after: float | None
    n_before: int
    n_after: int
    share_before: float | None = None
    share_after: float | None = None
    mix: float | None = None
    rate: float | None = None
    total: float | None = None
    few: bool = False

    @property
    def status(self) -> str:
        """``appeared`` (no observations before), ``vanished`` (none after) or ``both``."""
        return "appeared" if not self.n_before else "vanished" if not self.n_after else "both"


@dataclass(frozen=True)
class Split:
    """KPI ``key``'s change from ``before`` to ``after`` split by ``dimensions``: ``kind`` ratio,
    sum or percentile; ``segments`` sorted by the size of their contribution (percentiles: of
    their own change, weighted by their observations); ``exact``: the contributions add up to
    ``delta``."""

    key: str
    dimensions: tuple[str, ...]
    kind: str
    before: float | None
    after: float | None
    segments: tuple[Segment, ...]

    @property
    def delta(self) -> float | None:
        return None if self.before is None or self.after is None else self.after - self.before

    @property
    def exact(self) -> bool:
        return self.kind != "percentile"

    def top(self, count: int = TOP) -> tuple[tuple[Segment, ...], Segment | None]:
        """The first ``count`` segments and the rest summed into one (None when there is no rest)."""
        shown, rest = self.segments[:count], self.segments[count:]
        if not rest:
            return shown, None
        add = lambda name: (None if any(getattr(s, name) is None for s in rest)  # noqa: E731
                            else sum(getattr(s, name) for s in rest))
        return shown, Segment((), None, None, sum(s.n_before for s in rest), sum(s.n_after for s in rest),
                              add("share_before"), add("share_after"), add("mix"), add("rate"), add("total"))


def _key(row: Mapping, dimensions: tuple[str, ...]) -> tuple:
    return tuple((d, None if _missing(row[d]) else str(row[d]), bool(int(row[d + SEVERAL] or 0)))
                 for d in dimensions)


def _order(values: tuple) -> tuple:
    """A segment's values as a sort key (None and several last)."""
    return tuple((several, value is None, value or "") for _, value, several in values)


def _int(value) -> int:
    """A sum of measures as an int (0 for none)."""
    return 0 if _missing(value) else int(value)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _number(value) -> float | None:
    return None if value is None else float(value)


def decompose(key: str, dimensions: tuple[str, ...], before: pd.DataFrame, after: pd.DataFrame) -> Split:
    """The split of KPI ``key``'s change from ``segment_terms``' frames of the two periods."""
    item = KPIS[key]
    formula = item.formula
    prefix = f"{key}__"
    names = [*formula.columns(), "percentile"]
    periods = [{_key(row, dimensions): {n: row.get(prefix + n) for n in names} for row in frame.to_dict("records")}
               for frame in (before, after)]
    segments = list(dict.fromkeys([*periods[0], *periods[1]]))
    rows = [[{n: (None if _missing(r.get(n)) else r[n]) if n == "percentile" else _int(r.get(n)) for n in names}
             for r in (period.get(s, {}) for period in periods)] for s in segments]
    totals = [{name: sum(r[i][name] for r in rows) for name in formula.columns()} for i in (0, 1)]
    if isinstance(formula, Ratio):
        return _ratio(item, dimensions, segments, rows, totals)
    if isinstance(formula, Total):
        values = [[_number(formula.value(r[i])[0]) or 0.0 for i in (0, 1)] for r in rows]
        found = [Segment(s, v[0], v[1], int(formula.value(r[0])[1]), int(formula.value(r[1])[1]),
                         total=v[1] - v[0]) for s, v, r in zip(segments, values, rows)]
        found.sort(key=lambda s: (-abs(s.total), _order(s.values)))
        kpi = [_number(formula.value(totals[i])[0]) for i in (0, 1)]
        return Split(key, dimensions, "sum", kpi[0], kpi[1], tuple(found))
    found = []
    for s, r in zip(segments, rows):
        n = [r[i]["counted"] for i in (0, 1)]
        values = [_number(r[i]["percentile"]) for i in (0, 1)]
        found.append(Segment(s, values[0], values[1], n[0], n[1], few=catalogue.too_few(item.unit, *n)))
    change = lambda s: 0.0 if s.before is None or s.after is None else abs(s.after - s.before) * (s.n_before + s.n_after)  # noqa: E731
    found.sort(key=lambda s: (-change(s), _order(s.values)))
    return Split(key, dimensions, "percentile", None, None, tuple(found))


def _ratio(item: Kpi, dimensions, segments, rows, totals) -> Split:
    formula = item.formula
    scale = formula.scale
    dens = [int(totals[i]["den"]) for i in (0, 1)]
    kpi = [None if not dens[i] else scale * int(totals[i]["num"]) / dens[i] for i in (0, 1)]
    if None in kpi:
        return Split(item.key, dimensions, "ratio", kpi[0], kpi[1], ())
    mean = (kpi[0] + kpi[1]) / 2
    found = []
    for s, r in zip(segments, rows):
        den = [r[i]["den"] for i in (0, 1)]
        if not any(den):
            continue
        value = [scale * r[i]["num"] / den[i] if den[i] else None for i in (0, 1)]
        # A segment absent from a period takes its other period's value there: all its change is mix.
        rates = [value[0] if value[0] is not None else value[1], value[1] if value[1] is not None else value[0]]
        share = [den[i] / dens[i] for i in (0, 1)]
        mix = (share[1] - share[0]) * ((rates[0] + rates[1]) / 2 - mean)
        rate = (rates[1] - rates[0]) * (share[0] + share[1]) / 2
        found.append(Segment(s, value[0], value[1], den[0], den[1], share[0], share[1], mix, rate, mix + rate,
                             few=catalogue.too_few(item.unit, *den)))
    found.sort(key=lambda s: (-abs(s.total), _order(s.values)))
    return Split(item.key, dimensions, "ratio", kpi[0], kpi[1], tuple(found))


def split(engine: sa.Engine, schema: Schema, filters: Filters, compared: Filters, key: str,
          dimensions: tuple[str, ...]) -> Split:
    """KPI ``key``'s change from ``compared`` to ``filters`` split by ``dimensions`` (one or a pair)."""
    return explain(engine, schema, filters, compared, (key,), (dimensions,))[key]


def concentration(found: Split) -> float:
    """How much of the change one segment explains beyond its size: the largest |contribution −
    its share × the change| (shares: of the observations for a ratio, of the totals for a sum).
    A dimension of one segment explains nothing (it is the whole); 0 where nothing is explained."""
    if not found.segments or not found.exact or not found.delta:
        return 0.0
    if found.kind == "ratio":
        weights = [(s.share_before + s.share_after) / 2 for s in found.segments]
    else:
        sizes = [abs(s.before or 0) + abs(s.after or 0) for s in found.segments]
        weights = [size / (sum(sizes) or 1) for size in sizes]
    return max(abs(s.total - w * found.delta) for s, w in zip(found.segments, weights))


def explain(engine: sa.Engine, schema: Schema, current: Filters, previous: Filters, keys: tuple[str, ...],
            splits: tuple[tuple[str, ...], ...] = tuple((d,) for d in DIMENSIONS)) -> dict[str, Split]:
    """Each KPI of ``keys``' change from ``previous`` to ``current``, split by the one of
    ``splits`` (each a dimension or a pair) with a segment that explains the most of it
    (``concentration``; a percentile: the first): two statements per split and period; a
    percentile's overall values are the tiles' (``kpis.compute``)."""
    best: dict[str, Split] = {}
    for dimensions in splits:
        frames = [segment_terms(engine, schema, f, keys, dimensions) for f in (previous, current)]
        for key in keys:
            found = decompose(key, dimensions, *frames)
            if key not in best or concentration(found) > concentration(best[key]):
                best[key] = found
    for key, found in best.items():
        if found.kind == "percentile":
            from data_access import kpis

            values = [kpis.compute_one(engine, schema, f, key).value for f in (previous, current)]
            best[key] = replace(found, before=_number(values[0]), after=_number(values[1]))
    return best


def _plain(value, unit: str, signed: bool = False) -> str:
    """A value in plain English text for an alert's annotation (a change with its sign; none 0)."""
    if value is None:
        return "none"
    places = 1 if unit == "percent" else 2 if unit in ("rating", "nps", "money") else 0
    number = round(float(value), places) + 0.0  # -0.0 → 0.0
    sign = "+" if signed and number else ""
    if unit == "money":
        return f"{'-' if number < 0 else sign}${abs(number):,.2f}"
    suffix = {"percent": " pp" if signed else " %", "ms": " ms", "seconds": " s"}.get(unit, "")
    return f"{number:{sign},.{places}f}{suffix}"


def describe(found: Split | None) -> str:
    """A split's largest segment in one line of plain English (an alert's annotation); "" for none."""
    if found is None or not found.segments or found.delta is None:
        return ""
    first = found.segments[0]
    where = ", ".join(f"{d}={'(several)' if several else '(none)' if value is None else value}"
                      for d, value, several in first.values)
    where = " ".join(where.split())  # one line, whatever the data holds
    unit = KPIS[found.key].unit
    values = f"{_plain(first.before, unit)} -> {_plain(first.after, unit)}"
    if not found.exact:
        return f"{where}: its {found.key} {values}, the largest own change (a percentile does not split exactly)"
    text = f"{where}: {_plain(first.total, unit, True)} of the {_plain(found.delta, unit, True)} change in {found.key}"
    if found.kind == "ratio":
        return f"{text} (its own value {values}: rate {_plain(first.rate, unit, True)}, mix {_plain(first.mix, unit, True)})"
    return f"{text} ({values})"
