"""Alert rules and SLA targets from a YAML file (``alerts.yml`` at the project root by default).

A rule says which metric (one of ``METRICS``) to watch, at what step, over what window, against
what threshold, for how long, and how it clears. ``load_rules`` never raises for a bad rule: it
returns the valid rules and one ``Problem`` per invalid one, naming the line and the rule, so a
page keeps working with what is valid. See docs/alerts.md for the file's shape.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATH = ROOT / "alerts.yml"
OPERATORS = (">", ">=", "<", "<=")
SEVERITIES = ("critical", "warning", "info")
LABELS = ("service", "platform", "intent", "ai_model")


@dataclass(frozen=True)
class Metric:
    """A metric an alert rule can watch. ``combine`` says how buckets roll up into a window:
    ``ratio`` (sum of numerators / sum of denominators), ``sum``, ``max``, or ``single`` (not
    additive: the window must equal the step). ``labels`` are the ``by`` values it can split on."""

    key: str
    table: str
    unit: str
    combine: str
    labels: tuple[str, ...]


METRICS = {m.key: m for m in (
    Metric("error_rate", "system_metrics", "%", "ratio", ("service",)),
    Metric("uptime", "service_health", "%", "ratio", ("service",)),
    Metric("disk_percent", "system_metrics", "%", "max", ("service",)),
    Metric("memory_percent", "system_metrics", "%", "max", ("service",)),
    Metric("cpu_percent", "system_metrics", "%", "max", ("service",)),
    Metric("p95_response_time", "conversation_metrics", "ms", "single", ("platform", "intent", "ai_model")),
    Metric("avg_response_time", "conversation_metrics", "ms", "ratio", ("platform", "intent", "ai_model")),
    Metric("avg_rating", "conversation_metrics", "/ 5", "ratio", ("platform", "intent", "ai_model")),
    Metric("csat", "conversation_metrics", "%", "ratio", ("platform", "intent", "ai_model")),
    Metric("escalation_rate", "conversation_metrics", "%", "ratio", ("platform", "intent", "ai_model")),
    Metric("negative_reviews", "nps_responses", "reviews", "sum", ("platform",)),
)}


@dataclass(frozen=True)
class Rule:
    """One alert rule. Durations are in seconds; ``baseline_weeks`` > 0 makes the threshold a
    percentage above (or below) the mean of the same bucket of the week over that many weeks."""

    name: str
    metric: str
    operator: str
    threshold: float
    step: int = 60
    window: int = 60
    for_: int = 0
    clear: float | None = None
    baseline_weeks: int = 0
    by: str | None = None
    min_count: int = 0
    severity: str = "warning"
    summary: str = ""
    summary_ru: str = ""  # the summary in Russian (the dashboard's other language); English when absent
    line: int = 0
    title: str = ""  # the name people read ("Service down"); the rule's name stays its id (labels, URLs)
    title_ru: str = ""

    def summary_in(self, lang: str) -> str:
        """The rule's summary in ``lang`` ("ru" or "en"), falling back to English."""
        return self.summary_ru if lang == "ru" and self.summary_ru else self.summary

    def title_in(self, lang: str) -> str:
        """The rule's title in ``lang``, falling back to English, then to its name in words
        ("ServiceDown" → "Service down")."""
        if lang == "ru" and self.title_ru:
            return self.title_ru
        return self.title or readable_name(self.name)

    @property
    def above(self) -> bool:
        return self.operator in (">", ">=")

    def breaches(self, value: float) -> bool:
        return _compare(value, self.operator, self.threshold)

    def holds(self, value: float) -> bool:
        """Whether a firing alert stays firing at ``value``: beyond the clear threshold, or the
        fire threshold when the rule has none (hysteresis)."""
        if self.clear is None:
            return self.breaches(value)
        return value > self.clear if self.above else value < self.clear


@dataclass(frozen=True)
class Problem:
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", rule {self.rule}" if self.rule else "")
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class SlaTargets:
    uptime_percent: float = 99.9
    response_time_ms: float = 2000.0


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...] = ()
    problems: tuple[Problem, ...] = ()
    negative_keywords: tuple[str, ...] = ()
    sla: SlaTargets = field(default_factory=SlaTargets)
    path: str = ""

    def threshold(self, metric: str) -> float | None:
        """The fire threshold of the first rule on ``metric`` that compares the metric itself (no
        weekly baseline), or None without one: the charts draw their threshold lines from here,
        so editing a rule moves its line."""
        for rule in self.rules:
            if rule.metric == metric and not rule.baseline_weeks:
                return rule.threshold
        return None


def _compare(value: float, operator: str, threshold: float) -> bool:
    if operator == ">":
        return value > threshold
    if operator == ">=":
        return value >= threshold
    if operator == "<":
        return value < threshold
    return value <= threshold


_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_CONDITION = re.compile(r"^\s*(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")


def parse_duration(text) -> int:
    """``"90s"``, ``"5m"``, ``"2h"``, ``"1d"``, ``"1w"`` (or a plain number of seconds) as seconds.
    Raises ``ValueError`` for anything else."""
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int) and text >= 0:
        return text
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 2h, 1d)")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def parse_condition(text) -> tuple[str, float]:
    """``"> 5"`` as ``(">", 5.0)``. Raises ``ValueError``."""
    match = _CONDITION.match(str(text))
    if not match:
        raise ValueError(f"condition must be an operator and a number, like '> 5': got {text!r}")
    return match.group(1), float(match.group(2))


class _LineLoader(yaml.SafeLoader):
    """Keeps each mapping's line number (1-based) under the key ``__line__``."""


def _mapping_with_line(loader, node):
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)

RULE_FIELDS = {"alert", "metric", "condition", "step", "window", "for", "clear", "baseline", "by",
               "min_count", "severity", "summary", "summary_ru", "title", "title_ru", "__line__"}


def _rule(raw: dict) -> Rule:
    """One rule from its mapping. Raises ``ValueError`` naming what is wrong."""
    unknown = sorted(set(raw) - RULE_FIELDS)
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)}")
    name = raw.get("alert")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,63}", name):
        raise ValueError("'alert' must be a name of letters, digits and _")
    metric = METRICS.get(raw.get("metric"))
    if metric is None:
        raise ValueError(f"unknown metric {raw.get('metric')!r}; one of: {', '.join(METRICS)}")
    if "condition" not in raw:
        raise ValueError("'condition' is required, like '> 5'")
    operator, threshold = parse_condition(raw["condition"])
    step = parse_duration(raw.get("step", "1m"))
    window = parse_duration(raw.get("window", step))
    for_ = parse_duration(raw.get("for", 0))
    if step < 60 or step % 60 or step > 7 * 86400:
        raise ValueError("'step' must be whole minutes, from 1m to 1w")
    if window < step or window % step or window > 28 * 86400:
        raise ValueError("'window' must be a multiple of 'step', at most 28d")
    if metric.combine == "single" and window != step:
        raise ValueError(f"{metric.key} is not additive: 'window' must equal 'step'")
    clear = raw.get("clear")
    if clear is not None:
        if isinstance(clear, bool) or not isinstance(clear, (int, float)):
            raise ValueError("'clear' must be a number")
        clear = float(clear)
        if (operator in (">", ">=") and clear > threshold) or (operator in ("<", "<=") and clear < threshold):
            raise ValueError("'clear' must lie on the healthy side of the threshold")
    weeks = 0
    baseline = raw.get("baseline")
    if baseline is not None:
        if not isinstance(baseline, dict) or baseline.get("same") != "hour_of_week":
            raise ValueError("'baseline' must be {same: hour_of_week, weeks: N}")
        weeks = baseline.get("weeks", 4)
        if isinstance(weeks, bool) or not isinstance(weeks, int) or not 1 <= weeks <= 12:
            raise ValueError("'baseline.weeks' must be a whole number from 1 to 12")
    by = raw.get("by")
    if by is not None and by not in metric.labels:
        raise ValueError(f"{metric.key} can be split 'by' {', '.join(metric.labels)} only")
    min_count = raw.get("min_count", 0)
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 0:
        raise ValueError("'min_count' must be a whole number ≥ 0")
    severity = raw.get("severity", "warning")
    if severity not in SEVERITIES:
        raise ValueError(f"'severity' must be one of {', '.join(SEVERITIES)}")
    texts = {key: raw.get(key, "") for key in ("summary", "summary_ru", "title", "title_ru")}
    for key, value in texts.items():
        if not isinstance(value, str):
            raise ValueError(f"'{key}' must be text")
        if key.startswith("title") and len(value.strip()) > MAX_TITLE:
            raise ValueError(f"'{key}' must be at most {MAX_TITLE} characters")
    return Rule(name=name, metric=metric.key, operator=operator, threshold=threshold, step=step, window=window,
                for_=for_, clear=clear, baseline_weeks=weeks, by=by, min_count=min_count, severity=severity,
                line=raw.get("__line__", 0), **{key: value.strip() for key, value in texts.items()})


MAX_TITLE = 80


def readable_name(name: str) -> str:
    """A rule's name in words: ``ServiceDown`` → ``Service down``, ``p95_latency`` → ``P95 latency``."""
    import re

    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name.replace("_", " ").replace("-", " ")).split()
    return " ".join([words[0][:1].upper() + words[0][1:]] + [w.lower() if w[1:].islower() else w for w in words[1:]]) \
        if words else name


def parse_rules(text: str, path: str = "") -> RuleSet:
    """The rules in YAML ``text``: the valid ones and a ``Problem`` for each one that is not
    (or one for the whole file when it is not YAML of the right shape). Never raises."""
    try:
        document = yaml.load(text, Loader=_LineLoader) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        reason = getattr(error, "problem", None) or "not valid YAML"
        return RuleSet(problems=(Problem(mark.line + 1 if mark else 0, "", reason),), path=path)
    if not isinstance(document, dict):
        return RuleSet(problems=(Problem(1, "", "the file must be a mapping with 'groups'"),), path=path)
    rules: list[Rule] = []
    problems: list[Problem] = []
    names: set[str] = set()
    groups = document.get("groups") or []
    if not isinstance(groups, list):
        problems.append(Problem(document.get("__line__", 1), "", "'groups' must be a list"))
        groups = []
    for group in groups:
        entries = group.get("rules") if isinstance(group, dict) else None
        if not isinstance(entries, list):
            line = group.get("__line__", 0) if isinstance(group, dict) else 0
            problems.append(Problem(line, "", "each group needs a 'rules' list"))
            continue
        for raw in entries:
            if not isinstance(raw, dict):
                problems.append(Problem(0, "", f"a rule must be a mapping, got {raw!r}"))
                continue
            label = raw.get("alert") if isinstance(raw.get("alert"), str) else ""
            try:
                rule = _rule(raw)
            except ValueError as error:
                problems.append(Problem(raw.get("__line__", 0), label, str(error)))
                continue
            if rule.name in names:
                problems.append(Problem(rule.line, rule.name, "a rule of that name comes earlier"))
                continue
            names.add(rule.name)
            rules.append(rule)
    keywords = _keywords(document, problems)
    sla = _sla(document, problems)
    return RuleSet(tuple(rules), tuple(problems), keywords, sla, path)


def _keywords(document: dict, problems: list[Problem]) -> tuple[str, ...]:
    raw = (document.get("keywords") or {})
    words = raw.get("negative", []) if isinstance(raw, dict) else None
    if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
        problems.append(Problem(raw.get("__line__", 0) if isinstance(raw, dict) else 0, "",
                                "'keywords.negative' must be a list of words"))
        return ()
    return tuple(dict.fromkeys(w.strip().lower() for w in words))


def _sla(document: dict, problems: list[Problem]) -> SlaTargets:
    raw = document.get("sla") or {}
    if not isinstance(raw, dict):
        problems.append(Problem(0, "", "'sla' must be a mapping"))
        return SlaTargets()
    uptime = raw.get("uptime_percent", SlaTargets.uptime_percent)
    response = raw.get("response_time_ms", SlaTargets.response_time_ms)
    if (isinstance(uptime, bool) or not isinstance(uptime, (int, float)) or not 0 < uptime < 100
            or isinstance(response, bool) or not isinstance(response, (int, float)) or response <= 0):
        problems.append(Problem(raw.get("__line__", 0), "",
                                "'sla.uptime_percent' must be between 0 and 100 (exclusive) and "
                                "'sla.response_time_ms' above 0"))
        return SlaTargets()
    return SlaTargets(float(uptime), float(response))


def rules_path() -> Path:
    """``EASYFLOW_ALERTS_FILE`` if set, else ``alerts.yml`` at the project root."""
    return Path(os.environ.get("EASYFLOW_ALERTS_FILE") or DEFAULT_PATH)


def load_rules(path: Path | None = None) -> RuleSet:
    """The rule set in ``path`` (default ``rules_path()``); a missing or unreadable file is one
    ``Problem``, never an exception."""
    path = path or rules_path()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return RuleSet(problems=(Problem(0, "", f"cannot read {path.name}: {error.__class__.__name__}"),),
                       path=str(path))
    return parse_rules(text, str(path))
