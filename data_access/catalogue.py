"""The metrics catalogue: the one place where a number of the dashboard is defined.

- ``MEASURES``: what one conversation_metrics row adds to each additive measure (counts and sums).
  The rollup tables keep exactly these columns (``data_access.rollups``), and the raw path sums the
  same per-row SQL, so a reader that sums measures gives one answer from either.
- ``KPIS``: every tile's KPI with its texts (label, meaning, definition), unit, direction, what
  its ``n`` counts, whether the reports watch it for anomalies and which alert metric reads it.
  A message-level KPI is a ``formula`` over measures (``Ratio``, ``Total``, ``Percentile``); the
  tiles (``kpis.compute``), the trends, the alert rules' metrics and the reports' series all turn
  the same formula into SQL (``Formula.columns``) and into values (``Formula.value`` for one row,
  ``Formula.series`` for a frame). KPIs of the other levels (dialogs, NPS answers, system samples,
  health checks) still carry SQL aggregates of their level's rows (``build``).

Adding a message KPI over existing measures: an entry in ``KPIS`` (with its texts), the page's
keys, a hand-computed test and the contract's row.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import pandas as pd

from data_access import sql
from data_access.schema import Schema

CM = "conversation_metrics"

# The values the contract allows; rows outside them are left out of the KPI and counted.
RATED = '"satisfaction_score" BETWEEN 1 AND 5'
TIMED = '"response_time_ms" >= 0'
TOKENS_VALID = '"tokens_used" >= 0'
CONFIDENCE_VALID = '"confidence" BETWEEN 0 AND 1'

# The latency chart's bins (ms) and the calibration chart's confidence bins.
LATENCY_EDGES = (500, 1000, 2000, 3000, 5000, 10_000)
CONFIDENCE_EDGES = (0.5, 0.6, 0.7, 0.8, 0.9)


# --- measures ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Measure:
    """An additive measure: ``row`` is what one conversation_metrics row adds (SQL over its
    columns), 0 where the database lacks one of ``needs``. ``kind``: ``count`` (an hour's sum fits
    an INTEGER), ``wide`` (a sum of values: BIGINT) or ``real``."""

    name: str
    row: str
    needs: tuple[str, ...] = ()
    kind: str = "count"


def count_if(condition: str) -> str:
    """1 for a row where ``condition`` holds, else 0 (a count, summed)."""
    return f"CASE WHEN {condition} THEN 1 ELSE 0 END"


def bins(value: str, edges: tuple, first=None) -> list[str]:
    """The condition of each bin of ``value`` cut at ``edges``: [first, e1), [e1, e2), …, [last, ∞)
    (no lower bound when ``first`` is None)."""
    lowers, uppers = (first, *edges), (*edges, None)
    return [" AND ".join([f"{value} >= {lower}"] * (lower is not None) + [f"{value} < {upper}"] * (upper is not None))
            for lower, upper in zip(lowers, uppers)]


def _measures() -> tuple[Measure, ...]:
    found = [Measure("messages", "1")]
    found += [Measure(f"rated_{s}", count_if(f'"satisfaction_score" = {s}')) for s in range(1, 6)]
    found += [Measure("rated_bad", count_if(f"NOT ({RATED})")),
              Measure("timed", count_if(TIMED)),
              Measure("timed_bad", count_if(f"NOT ({TIMED})")),
              Measure("time_sum", f'CASE WHEN {TIMED} THEN "response_time_ms" ELSE 0 END', kind="wide")]
    found += [Measure(f"latency_bin_{i}", count_if(inside))
              for i, inside in enumerate(bins('"response_time_ms"', LATENCY_EDGES, first=0))]
    found += [Measure("labelled", count_if('"expected_intent" IS NOT NULL'), ("expected_intent",)),
              Measure("intent_hits", count_if('"intent" = "expected_intent"'), ("expected_intent",)),
              Measure("voted", count_if('"helpful" IS NOT NULL'), ("helpful",)),
              Measure("helpful_up", sql.flag('"helpful"'), ("helpful",)),
              Measure("tokens_counted", count_if(TOKENS_VALID)),
              Measure("tokens_bad", count_if(f"NOT ({TOKENS_VALID})")),
              Measure("tokens_sum", f'CASE WHEN {TOKENS_VALID} THEN "tokens_used" ELSE 0 END', kind="wide"),
              Measure("cost_counted", count_if(sql.VALID_COST)),
              Measure("cost_bad", count_if(f"NOT ({sql.VALID_COST})")),
              Measure("cost_e4", f"CAST(ROUND({sql.COST_OR_ZERO} * 10000) AS BIGINT)", kind="wide")]
    for i, bin_ in enumerate(bins('"confidence"', CONFIDENCE_EDGES, first=0.0)):
        inside = f"{CONFIDENCE_VALID} AND {bin_}"
        found += [Measure(f"confidence_{i}", count_if(inside)),
                  Measure(f"confidence_sum_{i}", f'CASE WHEN {inside} THEN "confidence" ELSE 0 END', kind="real")]
    return tuple(found)


MEASURES: dict[str, Measure] = {m.name: m for m in _measures()}
MEASURE_NAMES = tuple(MEASURES)


# --- dialog measures ------------------------------------------------------------------------------
# A dialog's facts (``data_access.dialogs``): dialog, started, last_seen, user_id, platform, intent,
# ai_model and their ``_max`` (the least and greatest value among its messages), first_resolved, converted_any, escalated_any, cost_e4, messages,
# lowest_rating (the lowest valid satisfaction_score among its messages, NULL for none), previous_started and next_started (the same user's dialogs before and after, over all of them).

REPEAT_WINDOW_SECONDS = 7 * 24 * 3600
# The resolution-time histogram's bins (seconds): the Business page's chart.
RESOLUTION_EDGES_S = (60, 120, 300, 600, 1800, 3600, 4 * 3600)


def repeat_flag(dialect: str, previous: str = "previous_started") -> str:
    """1 for a dialog whose user started another dialog in the 7 × 24 hours before it (at
    ``previous``: the column that holds that start)."""
    gap = sql.seconds_between("started", previous, dialect)
    return f"(CASE WHEN {previous} IS NOT NULL AND {gap} <= {REPEAT_WINDOW_SECONDS} THEN 1 ELSE 0 END)"


def with_neighbours(dialogs: str, dialect: str) -> str:
    """``dialogs`` (one row per dialog: ``dialog``, ``user_id``, ``started``) with each one's user's
    previous and next dialog start among them: ``previous_started``, ``next_started``."""
    order = f"OVER (PARTITION BY {sql.bytewise('user_id', dialect)} ORDER BY started, dialog)"
    return (f"SELECT g.*, CASE WHEN user_id IS NOT NULL THEN LAG(started) {order} END AS previous_started, "
            f"CASE WHEN user_id IS NOT NULL THEN LEAD(started) {order} END AS next_started FROM ({dialogs}) g")


def came_back(dialect: str, following: str = "next_started") -> str:
    """The condition: the dialog's user started another dialog within 7 × 24 hours after it (at
    ``following``: the column that holds that start)."""
    gap = sql.seconds_between(following, "started", dialect)
    return f"({following} IS NOT NULL AND {gap} <= {REPEAT_WINDOW_SECONDS})"


def resolution_seconds(dialect: str) -> str:
    """Seconds from a dialog's start to its first resolved message (NULL if never resolved)."""
    return sql.seconds_between("first_resolved", "started", dialect)


def dialog_measures(dialect: str) -> dict[str, str]:
    """What one dialog (a facts row) adds to each dialog measure: summed over the dialogs that
    start in a range, the dialog KPIs, trends and breakdowns of that range. The rollups keep these
    sums per start hour (``data_access.dialogs``); the raw path sums the same SQL."""
    resolved = "first_resolved IS NOT NULL"
    measures = {
        "dialogs": "1",
        "converted": "COALESCE(converted_any, 0)",
        "escalated": "COALESCE(escalated_any, 0)",
        "resolved": count_if(resolved),
        "automated": count_if(f"{resolved} AND COALESCE(escalated_any, 0) = 0"),
        # Resolved, and the user has not come back within the week after (yet: see ``YOUNG``).
        "resolved_alone": count_if(f"{resolved} AND NOT {came_back(dialect)}"),
        "repeats": repeat_flag(dialect),
        "messages": "messages",
        "cost_e4": "cost_e4",
        "escalated_cost_e4": "CASE WHEN escalated_any = 1 THEN cost_e4 ELSE 0 END",
    }
    for i, inside in enumerate(bins(resolution_seconds(dialect), RESOLUTION_EDGES_S)):
        measures[f"resolution_bin_{i}"] = count_if(f"{resolved} AND {inside}")
    return measures


DIALOG_MEASURE_NAMES = tuple(dialog_measures("sqlite"))
# The measures a dialog's age splits, over rows of summed dialog measures at ``t`` (a dialog's
# start, or the start of an hour or day of them): a resolved dialog younger than a week
# (``:young_since``, a whole hour) whose user has not come back is pending, neither solved at
# first contact nor not.
YOUNG = {
    "fcr_solved": "CASE WHEN t < :young_since THEN resolved_alone ELSE 0 END",
    "fcr_pending": "CASE WHEN t < :young_since THEN 0 ELSE resolved_alone END",
}


def measure_rows(schema: Schema, names: Iterable[str] = MEASURE_NAMES) -> dict[str, str]:
    """Each measure of ``names`` → its value for one raw row under ``schema``."""
    return {n: MEASURES[n].row if all(schema.has(CM, c) for c in MEASURES[n].needs) else "0" for n in names}


# --- formulas over measures -----------------------------------------------------------------------

@dataclass(frozen=True)
class Sum:
    """A weighted sum of measures: ``Sum(rated_4=1, rated_5=1)``."""

    weights: tuple[tuple[str, int], ...]

    def __init__(self, **weights: int):
        unknown = set(weights) - set(MEASURES) - set(DIALOG_MEASURE_NAMES) - set(YOUNG)
        if unknown:
            raise KeyError(f"unknown measures: {sorted(unknown)}")
        object.__setattr__(self, "weights", tuple(weights.items()))

    @property
    def measures(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.weights)

    def sql(self) -> str:
        """The aggregate over rows holding the measures as columns (never NULL)."""
        inner = " + ".join(name if weight == 1 else f"{weight} * {name}" for name, weight in self.weights)
        return f"COALESCE(SUM({inner}), 0)"


RATINGS = Sum(**{f"rated_{s}": 1 for s in range(1, 6)})
DIALOGS = Sum(dialogs=1)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _exact_int(value) -> int:
    """A sum the database returned (int, Decimal, NULL or NaN) as an exact int, 0 for none."""
    return 0 if _missing(value) else int(value)


def share(part, whole, scale: float = 100.0) -> float | None:
    """``scale`` × part / whole (100: a percentage), or None when whole is 0 or missing."""
    return None if _missing(whole) or not whole else scale * (0.0 if _missing(part) else float(part)) / float(whole)


class Formula(ABC):
    """A KPI as named sums of measures (``terms``) and how they make its value."""

    @abstractmethod
    def terms(self) -> dict[str, Sum]:
        """Each named sum of measures the value is made of."""

    @property
    def measures(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m for term in self.terms().values() for m in term.measures))

    def columns(self, prefix: str = "") -> dict[str, str]:
        """``prefix + term`` → its SQL aggregate over rows that hold the measures."""
        return {f"{prefix}{name}": term.sql() for name, term in self.terms().items()}

    @abstractmethod
    def value(self, row: Mapping, prefix: str = "") -> tuple:
        """``(value, n, ignored)`` from a row holding ``columns(prefix)``."""

    def pending(self, row: Mapping, prefix: str = "") -> int:
        """How many observations are not decided yet and left out (0 for most formulas)."""
        return 0

    def series(self, frame: pd.DataFrame, prefix: str = "") -> tuple[pd.Series, pd.Series]:
        """Per row of ``frame`` (holding ``columns(prefix)``): the value (NaN for none) and its n."""
        values, ns = [], []
        for row in frame.to_dict("records"):
            value, n, _ = self.value(row, prefix)
            values.append(float("nan") if value is None else float(value))
            ns.append(n)
        return pd.Series(values, index=frame.index, dtype="float64"), pd.Series(ns, index=frame.index, dtype="float64")


@dataclass(frozen=True)
class Ratio(Formula):
    """``scale × num / den``, none where den is 0; n = den, ignored = bad; ``pending``: the
    observations not decided yet, left out of both (the tile says how many)."""

    num: Sum
    den: Sum
    scale: float = 100.0
    bad: Sum | None = None
    undecided: Sum | None = None

    def terms(self) -> dict[str, Sum]:
        return {"num": self.num, "den": self.den, **({"bad": self.bad} if self.bad else {}),
                **({"pending": self.undecided} if self.undecided else {})}

    def pending(self, row: Mapping, prefix: str = "") -> int:
        return _exact_int(row[f"{prefix}pending"]) if self.undecided else 0

    def value(self, row: Mapping, prefix: str = "") -> tuple:
        num, den = row[f"{prefix}num"], row[f"{prefix}den"]
        bad = row[f"{prefix}bad"] if self.bad else 0
        return share(num, den, self.scale), _exact_int(den), _exact_int(bad)


@dataclass(frozen=True)
class Total(Formula):
    """A sum: ``total`` (in USD from 1/10,000 with ``money``), none where nothing was counted
    unless ``always`` (a count is 0, not none); n = counted, ignored = bad."""

    total: Sum
    counted: Sum
    bad: Sum | None = None
    money: bool = False
    always: bool = False

    def terms(self) -> dict[str, Sum]:
        return {"total": self.total, "counted": self.counted, **({"bad": self.bad} if self.bad else {})}

    def value(self, row: Mapping, prefix: str = "") -> tuple:
        total, counted = _exact_int(row[f"{prefix}total"]), _exact_int(row[f"{prefix}counted"])
        bad = _exact_int(row[f"{prefix}bad"]) if self.bad else 0
        if not counted and not self.always:
            return None, counted, bad
        return (Decimal(total) / Decimal(10000) if self.money else total), counted, bad


@dataclass(frozen=True)
class Percentile(Formula):
    """A percentile ``of`` response_time_ms over the counted rows, or of the resolved dialogs'
    resolution times: exact (``percentile_cont``) from the raw rows, within
    ``rollups.LATENCY_RELATIVE_ERROR`` from a histogram of the rollups; the value is read apart
    (``kpis``), ``terms`` give n and ignored."""

    fraction: float
    counted: Sum
    bad: Sum | None = None
    of: str = "response_time"

    def terms(self) -> dict[str, Sum]:
        return {"counted": self.counted, **({"bad": self.bad} if self.bad else {})}

    def value(self, row: Mapping, prefix: str = "") -> tuple:
        read = row.get(f"{prefix}percentile")
        bad = _exact_int(row[f"{prefix}bad"]) if self.bad else 0
        return (None if read is None else float(read)), _exact_int(row[f"{prefix}counted"]), bad


# --- KPIs ----------------------------------------------------------------------------------------

# A share or an average compared on fewer observations than this on either side is too few to
# tell: Monday's 12 NPS answers against Sunday's 9 make "+26 pts" noise, not news. The tiles'
# deltas and the segments of a change's split (``data_access.change``) follow it.
MIN_COMPARED = 30
SAMPLED_UNITS = ("percent", "rating", "nps", "ms")


# What a gauge's n counts: the instants it was read at, not observations a rate is estimated from.
GAUGE_N_UNITS = ("samples",)


def too_few(unit: str, *counts: int, n_unit: str | None = None) -> bool:
    """Whether a KPI of ``unit`` on these observation counts is too few to compare (never a
    gauge's: its n, ``n_unit`` "samples", counts readings, and its value is no sampled estimate)."""
    return unit in SAMPLED_UNITS and n_unit not in GAUGE_N_UNITS and min(counts) < MIN_COMPARED


@dataclass(frozen=True)
class Aggregates:
    """Named SQL aggregate expressions over a level's rows, and a function from their values to
    ``(value, n, ignored)``: the KPIs not yet written over measures."""

    columns: dict[str, str]
    finish: Callable[[dict], tuple]


LEVEL_TABLES = {"messages": CM, "dialogs": CM, "nps": "nps_responses",
                "system": "system_metrics", "health": "service_health"}


@dataclass(frozen=True)
class Kpi:
    """A KPI. ``label``: the contract's tile label (English; the catalogues translate it);
    ``meaning``: what the number tells, in a manager's words (the tile's help); ``definition``:
    the precise definition in small print. ``unit``: count, percent, rating, ms, money, rps, nps,
    seconds. ``n_unit``: what its ``n`` counts (``kpi.n.<n_unit>`` in the catalogues).
    ``watched``: the reports look for anomalies in it, with ``sample`` the series' column of its
    sample size (None for a count). ``alert_metric``: the alert rules' metric that reads it.
    ``ru``: its label, meaning and definition in Russian, as a native speaker writes them."""

    key: str
    label: str
    level: str
    unit: str
    n_unit: str
    meaning: str
    definition: str
    requires: tuple[str, ...] = ()
    higher_is_better: bool | None = True
    formula: Formula | None = None
    build: Callable[[str], Aggregates] | None = field(default=None, repr=False)
    watched: bool = False
    sample: str | None = None
    alert_metric: str | None = None
    ru: tuple[str, str, str] = ("", "", "")  # label, meaning, definition in Russian

    def __post_init__(self):
        table = LEVEL_TABLES[self.level]
        needs = tuple(r if "." in r else f"{table}.{r}" for r in self.requires) or (f"{table}.timestamp",)
        object.__setattr__(self, "requires", needs)
        if (self.formula is None) == (self.build is None):
            raise ValueError(f"{self.key}: a KPI has a formula over measures or SQL aggregates, one of them")

    def tracked(self, schema: Schema) -> bool:
        return all(schema.has(*need.split(".", 1)) for need in self.requires)


def valid_rows(valid: str) -> dict[str, str]:
    """``counted``: rows where the condition ``valid`` holds; ``bad``: non-NULL rows where it fails."""
    return {"counted": f"SUM(CASE WHEN {valid} THEN 1 ELSE 0 END)",
            "bad": f"SUM(CASE WHEN NOT ({valid}) THEN 1 ELSE 0 END)"}


def _latest(name: str) -> Callable[[str], Aggregates]:
    return lambda dialect: Aggregates(
        {"latest": f'MAX(CASE WHEN "timestamp" = latest_sample THEN {name} END)', "samples": "COUNT(*)"},
        lambda r: (None if r["latest"] is None else float(r["latest"]), r["samples"], 0))


def _nps(dialect: str) -> Aggregates:
    return Aggregates(
        {"promoters": 'SUM(CASE WHEN "score" BETWEEN 9 AND 10 THEN 1 ELSE 0 END)',
         "detractors": 'SUM(CASE WHEN "score" BETWEEN 0 AND 6 THEN 1 ELSE 0 END)',
         **valid_rows('"score" BETWEEN 0 AND 10')},
        lambda r: (None if not r["counted"] else
                   100.0 * (float(r["promoters"]) - float(r["detractors"])) / float(r["counted"]),
                   r["counted"], r["bad"]))


def _uptime(dialect: str) -> Aggregates:
    s = '"status"'
    return Aggregates(
        {"ok": f"SUM(CASE WHEN {s} IN ('up', 'degraded') THEN 1 ELSE 0 END)",
         "n": f"SUM(CASE WHEN {s} IN ('up', 'degraded', 'down') THEN 1 ELSE 0 END)",
         "bad": f"SUM(CASE WHEN {s} IN ('up', 'degraded', 'down') THEN 0 ELSE 1 END)"},
        lambda r: (share(r["ok"], r["n"]), r["n"], r["bad"]))


_KPIS = (
    # --- messages: one row per conversation_metrics row, formulas over MEASURES ---
    Kpi("messages", "Messages", "messages", "count", "messages",
        "Answers the bot sent.",
        "Number of conversation_metrics rows (answers the AI sent).",
        formula=Total(Sum(messages=1), Sum(messages=1), always=True), watched=True,
        ru=("Сообщения",
            "Сколько ответов отправил бот.",
            "Число строк conversation_metrics (ответов ИИ).")),
    Kpi("csat", "CSAT", "messages", "percent", "ratings",
        "Share of customer ratings that are 4 or 5 stars.",
        "% of ratings that are 4 or 5, among non-NULL satisfaction_score (top-2 box).",
        ("satisfaction_score",), formula=Ratio(Sum(rated_4=1, rated_5=1), RATINGS, 100.0, Sum(rated_bad=1)),
        watched=True, sample="ratings", alert_metric="csat",
        ru=("CSAT",
            "Доля оценок клиентов на 4 или 5 звёзд.",
            "% оценок 4 или 5 среди непустых satisfaction_score (top-2 box).")),
    Kpi("avg_rating", "Avg rating", "messages", "rating", "ratings",
        "The customers' average rating, out of 5 stars.",
        "Mean of non-NULL satisfaction_score, on a 1–5 scale.",
        ("satisfaction_score",),
        formula=Ratio(Sum(**{f"rated_{s}": s for s in range(1, 6)}), RATINGS, 1.0, Sum(rated_bad=1)),
        watched=True, sample="ratings", alert_metric="avg_rating",
        ru=("Средняя оценка",
            "Средняя оценка клиентов из 5 звёзд.",
            "Среднее непустых satisfaction_score по шкале 1–5.")),
    Kpi("avg_response_time", "Avg AI response time", "messages", "ms", "messages",
        "How long the bot takes to write an answer, on average.",
        "Mean response_time_ms (AI generation time).",
        ("response_time_ms",), False, formula=Ratio(Sum(time_sum=1), Sum(timed=1), 1.0, Sum(timed_bad=1)),
        watched=True, sample="timed", alert_metric="avg_response_time",
        ru=("Среднее время ответа ИИ",
            "Сколько в среднем бот готовит ответ.",
            "Среднее response_time_ms (время генерации ответа ИИ).")),
    Kpi("p95_response_time", "p95 AI response time", "messages", "ms", "messages",
        "95 of every 100 answers are ready within this time; the slowest 5 % take longer.",
        "95th percentile of response_time_ms, linear interpolation (PostgreSQL percentile_cont); "
        "within 1 % where read from the hourly rollups.",
        ("response_time_ms",), False, formula=Percentile(0.95, Sum(timed=1), Sum(timed_bad=1)),
        alert_metric="p95_response_time",
        ru=("p95 времени ответа ИИ",
            "95 ответов из 100 готовы за это время; самые медленные 5 % — дольше.",
            "95-й перцентиль response_time_ms с линейной интерполяцией (percentile_cont в PostgreSQL); по часовым агрегатам — с точностью до 1 %.")),
    Kpi("intent_accuracy", "Intent accuracy", "messages", "percent", "labelled",
        "How often the bot understood what the customer wanted, checked on messages a person labelled.",
        "% of rows with expected_intent not NULL where intent = expected_intent (the labelled sample).",
        ("expected_intent", "intent"), formula=Ratio(Sum(intent_hits=1), Sum(labelled=1)),
        ru=("Точность интентов",
            "Как часто бот верно понял, чего хочет клиент, — по сообщениям, размеченным человеком.",
            "% строк с непустым expected_intent, где intent = expected_intent (размеченная выборка).")),
    Kpi("helpful_answers", "Helpful answers", "messages", "percent", "votes",
        "Share of thumbs up among the customers' thumbs up and down on answers.",
        "% of non-NULL helpful (the customer's thumbs up/down) that are true.",
        ("helpful",), formula=Ratio(Sum(helpful_up=1), Sum(voted=1)),
        ru=("Полезные ответы",
            "Доля лайков среди лайков и дизлайков клиентов к ответам.",
            "% значений true среди непустых helpful (лайк или дизлайк клиента).")),
    Kpi("tokens", "Tokens", "messages", "count", "messages",
        "How much text the AI models read and wrote, in tokens (what they are billed by).",
        "Sum of tokens_used. Negative counts are ignored and counted.",
        ("tokens_used",), None, formula=Total(Sum(tokens_sum=1), Sum(tokens_counted=1), Sum(tokens_bad=1)),
        ru=("Токены",
            "Сколько текста прочитали и написали модели ИИ, в токенах (за них платят).",
            "Сумма tokens_used. Отрицательные, NaN и бесконечные значения пропускаются и учитываются отдельно.")),
    Kpi("cost", "Cost", "messages", "money", "messages",
        "What the AI models cost, in US dollars.",
        "Sum of cost_usd, in USD (exact to 1/10,000 USD). Negative, NaN and infinite costs are ignored "
        "and counted.",
        ("cost_usd",), False, formula=Total(Sum(cost_e4=1), Sum(cost_counted=1), Sum(cost_bad=1), money=True),
        ru=("Стоимость",
            "Сколько стоили модели ИИ, в долларах США.",
            "Сумма cost_usd в долларах США (точно до 1/10 000 доллара). Отрицательные, NaN и бесконечные значения пропускаются и учитываются отдельно.")),
    # --- dialogs: the dialogs that start in the range, by their facts (DIALOG_MEASURES) ---
    Kpi("dialogs", "Dialogs", "dialogs", "count", "dialogs",
        "Conversations with customers that started in the period.",
        "Number of dialogs that start in the range (a dialog is a session_id; without one, user_id + UTC "
        "date); with a platform, intent or model filter, those with at least one message of that value.",
        formula=Total(Sum(dialogs=1), Sum(dialogs=1), always=True), watched=True,
        ru=("Диалоги",
            "Разговоры с клиентами, начавшиеся за период.",
            "Число диалогов, начавшихся в периоде (диалог — это session_id; без него — user_id и дата по UTC); с фильтром по платформе, интенту или модели — тех, где есть хотя бы одно сообщение с этим значением.")),
    Kpi("conversion_rate", "Conversion rate", "dialogs", "percent", "dialogs",
        "Share of dialogs that ended in an order, a booking or a payment.",
        "% of dialogs with any converted = true (ended with an order, booking or payment), over all "
        "their messages.",
        ("converted",), formula=Ratio(Sum(converted=1), DIALOGS), watched=True, sample="dialogs",
        ru=("Конверсия",
            "Доля диалогов, закончившихся заказом, бронированием или оплатой.",
            "% диалогов, где хоть раз converted = true (закончились заказом, бронированием или оплатой), по всем их сообщениям.")),
    Kpi("escalation_rate", "Escalation rate", "dialogs", "percent", "dialogs",
        "Share of dialogs the bot handed to a person.",
        "% of dialogs with any escalated = true (handed to a human operator), over all their messages.",
        ("escalated",), False, formula=Ratio(Sum(escalated=1), DIALOGS), watched=True, sample="dialogs",
        alert_metric="escalation_rate",
        ru=("Доля эскалаций",
            "Доля диалогов, которые бот передал оператору.",
            "% диалогов, где хоть раз escalated = true (переданы оператору), по всем их сообщениям.")),
    Kpi("median_resolution_time", "Median resolution time", "dialogs", "seconds", "resolved",
        "How long it takes to solve a customer's question: half of the solved dialogs took less.",
        "Median over resolved dialogs of (first message with resolved = true) − (dialog start); "
        "within 1 % where read from the hourly rollups.",
        ("resolved",), False, formula=Percentile(0.5, Sum(resolved=1), of="resolution"),
        ru=("Медианное время решения",
            "За сколько решается вопрос клиента: половина решённых диалогов — быстрее.",
            "Медиана по решённым диалогам разницы (первое сообщение с resolved = true) − (начало диалога); по часовым агрегатам — с точностью до 1 %.")),
    Kpi("automated_resolution_rate", "Automated resolution rate", "dialogs", "percent", "dialogs",
        "Share of dialogs the bot solved alone, without handing them to a person.",
        "% of dialogs resolved and never escalated, over all their messages.",
        ("resolved", "escalated"), formula=Ratio(Sum(automated=1), DIALOGS), watched=True, sample="dialogs",
        ru=("Решено ботом",
            "Доля диалогов, которые бот решил сам, не передавая оператору.",
            "% диалогов, которые решены и ни разу не переданы оператору, по всем их сообщениям.")),
    Kpi("first_contact_resolution", "First-contact resolution", "dialogs", "percent", "resolved",
        "Share of solved dialogs whose customer did not come back within a week: the answer really helped.",
        "% of resolved dialogs whose user started no other dialog in the 7 × 24 hours after this one's start; "
        "resolved dialogs younger than 7 days whose user has not come back are pending and left out.",
        ("resolved", "user_id"),
        formula=Ratio(Sum(fcr_solved=1), Sum(resolved=1, fcr_pending=-1), undecided=Sum(fcr_pending=1)),
        ru=("Решено с первого раза",
            "Доля решённых диалогов, после которых клиент не обращался снова в течение недели: ответ действительно помог.",
            "% решённых диалогов, пользователь которых не начал другой диалог за 7 × 24 часа после начала этого; "
            "решённые диалоги моложе 7 дней, после которых клиент ещё не возвращался, ждут и в расчёт не входят.")),
    Kpi("repeat_contact_rate", "Repeat contact rate", "dialogs", "percent", "dialogs",
        "Share of dialogs from customers who had already written in the week before: often a sign the "
        "first answer did not help.",
        "% of dialogs whose user started another dialog (any platform, any intent) in the 7 × 24 hours "
        "before this one's start.",
        ("user_id",), False, formula=Ratio(Sum(repeats=1), DIALOGS),
        ru=("Повторные обращения",
            "Доля диалогов от клиентов, которые уже писали за неделю до этого: часто признак, что первый ответ не помог.",
            "% диалогов, пользователь которых начал другой диалог (на любой платформе, с любым интентом) за 7 × 24 часа до начала этого.")),
    # --- NPS responses ---
    Kpi("nps", "NPS", "nps", "nps", "responses",
        "Would customers recommend us: the share of promoters (9–10) minus that of detractors (0–6), "
        "from −100 to 100.",
        "% of nps_responses with score 9–10 minus % with 0–6 (−100..100).",
        ("score",), build=_nps,
        ru=("NPS",
            "Порекомендуют ли нас клиенты: доля промоутеров (9–10) минус доля критиков (0–6), от −100 до 100.",
            "% ответов nps_responses с оценкой 9–10 минус % с оценкой 0–6 (от −100 до 100).")),
    # --- system samples: one row per sample timestamp (summed over services) ---
    Kpi("avg_rps", "Avg RPS", "system", "rps", "samples",
        "Requests per second the services handled, on average.",
        "sum(requests) / (number of distinct sample timestamps × 60).",
        ("requests",), None, build=lambda dialect: Aggregates(
            {"req": "SUM(requests)", "samples": "COUNT(*)"},
            lambda r: (None if not r["samples"] else float(r["req"] or 0) / (r["samples"] * 60.0), r["samples"], 0)),
        ru=("Средний RPS",
            "Сколько запросов в секунду в среднем обрабатывали сервисы.",
            "sum(requests) / (число различных моментов замера × 60).")),
    Kpi("peak_rps", "Peak RPS", "system", "rps", "samples",
        "Requests per second in the busiest minute.",
        "max over sample timestamps of sum(requests) / 60.",
        ("requests",), None, build=lambda dialect: Aggregates(
            {"peak": "MAX(requests)", "samples": "COUNT(*)"},
            lambda r: (None if r["peak"] is None else float(r["peak"]) / 60.0, r["samples"], 0)),
        ru=("Пиковый RPS",
            "Запросов в секунду в самую загруженную минуту.",
            "Максимум по моментам замера от sum(requests) / 60.")),
    Kpi("error_rate", "Error rate", "system", "percent", "requests",
        "Share of requests that failed.",
        "100 × sum(errors) / sum(requests).",
        ("requests", "errors"), False, build=lambda dialect: Aggregates(
            {"err": "SUM(errors)", "req": "SUM(requests)"},
            lambda r: (share(r["err"] or 0, r["req"]), int(r["req"] or 0), 0)),
        watched=True, sample="requests", alert_metric="error_rate",
        ru=("Доля ошибок",
            "Доля запросов, завершившихся ошибкой.",
            "100 × sum(errors) / sum(requests).")),
    Kpi("active_sessions", "Active sessions", "system", "count", "samples",
        "Customers in a conversation at the latest measurement.",
        "Sum of active_sessions at the latest sample timestamp in range.",
        ("active_sessions",), None, build=lambda dialect: Aggregates(
            {"latest": 'SUM(CASE WHEN "timestamp" = latest_sample THEN active_sessions END)', "samples": "COUNT(*)"},
            lambda r: (None if r["latest"] is None else int(r["latest"]), r["samples"], 0)),
        ru=("Активные сессии",
            "Клиентов в разговоре на момент последнего замера.",
            "Сумма active_sessions в последний момент замера в периоде.")),
    Kpi("cpu", "CPU", "system", "percent", "samples",
        "The busiest service's processor use at the latest measurement.",
        "The highest cpu_percent across services at the latest sample timestamp in range.",
        ("cpu_percent",), False, build=_latest("cpu"),
        ru=("CPU",
            "Загрузка процессора самого загруженного сервиса на момент последнего замера.",
            "Наибольший cpu_percent среди сервисов в последний момент замера в периоде.")),
    Kpi("memory", "Memory", "system", "percent", "samples",
        "The fullest service's memory use at the latest measurement.",
        "The highest memory_percent across services at the latest sample timestamp in range.",
        ("memory_percent",), False, build=_latest("memory"),
        ru=("Память",
            "Занятая память самого загруженного сервиса на момент последнего замера.",
            "Наибольший memory_percent среди сервисов в последний момент замера в периоде.")),
    Kpi("disk", "Disk", "system", "percent", "samples",
        "The fullest service's disk use at the latest measurement.",
        "The highest disk_percent across services at the latest sample timestamp in range.",
        ("disk_percent",), False, build=_latest("disk"),
        ru=("Диск",
            "Занятый диск самого заполненного сервиса на момент последнего замера.",
            "Наибольший disk_percent среди сервисов в последний момент замера в периоде.")),
    # --- health checks ---
    Kpi("uptime", "Uptime", "health", "percent", "checks",
        "Share of health checks in which the services answered (slow answers count as up).",
        "% of service_health checks with status 'up' or 'degraded'.",
        ("status",), build=_uptime, alert_metric="uptime",
        ru=("Доступность",
            "Доля проверок, в которых сервисы отвечали (медленные ответы тоже считаются).",
            "% проверок service_health со статусом 'up' или 'degraded'.")),
)

KPIS: dict[str, Kpi] = {k.key: k for k in _KPIS}


def watched() -> dict[str, Kpi]:
    """The KPIs the reports watch for anomalies, in the catalogue's order."""
    return {key: item for key, item in KPIS.items() if item.watched}


def by_alert_metric(metric: str) -> Kpi | None:
    """The KPI an alert rule's ``metric`` reads, if the catalogue defines it."""
    return next((item for item in KPIS.values() if item.alert_metric == metric), None)


def formula_of(key: str) -> Formula:
    """The formula over measures of a message-level KPI (KeyError for another)."""
    formula = KPIS[key].formula
    if formula is None:
        raise KeyError(f"{key} has no formula over measures")
    return formula
