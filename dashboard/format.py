"""Numbers, money, dates, durations and deltas as text, in English or Russian. No Streamlit:
``lang`` defaults to the session's language (English outside a session)."""

from __future__ import annotations

import re
import string
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from dashboard.i18n import current_language, t, tn

DASH = "—"
NBSP = "\u00a0"  # Russian groups thousands with a (non-breaking) space
UNITS = {
    "en": {"ms": "ms", "s": "s", "min": "min", "h": "h", "d": "d", "sizes": ("B", "KB", "MB", "GB")},
    "ru": {"ms": "мс", "s": "с", "min": "мин", "h": "ч", "d": "д", "sizes": ("Б", "КБ", "МБ", "ГБ")},
}


# Characters that break a line or reorder text on screen: C0 and C1 controls (\r included), DEL,
# the Unicode line and paragraph separators, and the bidirectional overrides and isolates.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_MARKDOWN_SPECIAL = re.compile("([" + re.escape(string.punctuation) + "])")
_WWW = re.compile(r"(?i)(www)(?=\\\.)")


def plain_text(value) -> str:
    """A value from data or the URL as one line of text: every control character a space."""
    return _CONTROLS.sub(" ", str(value))


def md_text(value) -> str:
    """A value from data or the URL for a Markdown context (``st.markdown``, ``st.info``, a
    caption, a report's Markdown file): one line, every ASCII punctuation character
    backslash-escaped, so no link, image, emphasis, HTML, directive or formula can start in it.
    Escaping alone does not stop the renderer's GFM autolinks (``name@example.com``,
    ``https://…`` and ``www.…`` became links in Chromium), so an invisible word joiner (U+2060)
    follows every ``@`` and ``:`` and splits ``www.``."""
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", plain_text(value))
    return _WWW.sub("\\1\u2060", escaped.replace("\\@", "\\@\u2060").replace("\\:", "\\:\u2060"))


def threshold(value: float, lang: str | None = None) -> str:
    """A threshold as its rule writes it: ``5``, ``4.5``, ``0.25`` (as many decimals as it has, up
    to three), in the language's way."""
    text = f"{float(value):.3f}".rstrip("0").rstrip(".")
    decimals = len(text.split(".")[1]) if "." in text else 0
    return number(float(value), decimals, lang)


def chart_text(value) -> str:
    """A value from data for a plotly label (legend, axis, hover): plotly reads a few HTML tags
    (``<a href>``, ``<b>``, …) in them, so ``&``, ``<`` and ``>`` become entities."""
    return plain_text(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _lang(lang: str | None) -> str:
    lang = lang or current_language()
    return lang if lang in UNITS else "en"


def localized(text: str, lang: str | None = None) -> str:
    """A number formatted the English way (``1,234.5``) in the language's own way (``1 234,5``)."""
    if _lang(lang) == "ru":
        return text.replace(",", NBSP).replace(".", ",")
    return text


def number(value: float | int, decimals: int = 0, lang: str | None = None) -> str:
    """``1234.5`` → ``1,234.5`` (English) or ``1 234,5`` (Russian), with ``decimals`` places."""
    return localized(f"{value:,.{decimals}f}", lang)


def percent(value: float, decimals: int | None = None, lang: str | None = None) -> str:
    """``81.234`` → ``81.2 %`` / ``81,2 %``; near 100 (uptime, SLA) two places, so 99.95 is not 100.0."""
    if decimals is None:
        decimals = 2 if 99.0 <= value < 100.0 else 1
    return localized(f"{value:.{decimals}f}", lang) + " %"


def money(value: Decimal | float, lang: str | None = None) -> str:
    """USD with cents, rounded half up: ``$1,234.57`` (English) or ``1 234,57 $`` (Russian)."""
    cents = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    sign = "-" if cents < 0 else ""
    if _lang(lang) == "ru":
        return f"{sign}{localized(f'{abs(cents):,.2f}', 'ru')} $"
    return f"{sign}${abs(cents):,.2f}"


def milliseconds(value: float, decimals: int = 0, lang: str | None = None) -> str:
    """``0.24`` → ``0.2 ms`` / ``0,2 мс``."""
    return f"{number(value, decimals, lang)} {UNITS[_lang(lang)]['ms']}"


def duration_ms(value: float, lang: str | None = None) -> str:
    """Milliseconds below ten seconds as ``845 ms`` / ``1.84 s``, longer as a duration."""
    units = UNITS[_lang(lang)]
    if value < 1000:
        return milliseconds(value, 0, lang)
    if value < 10_000:
        return f"{localized(f'{value / 1000:.2f}', lang)} {units['s']}"
    return duration_s(value / 1000, lang)


def duration_s(value: float, lang: str | None = None) -> str:
    """Seconds as ``45 s``, ``4 min 12 s``, ``3 h 05 min`` or ``2 d 04 h`` (``4 мин 12 с`` …)."""
    units = UNITS[_lang(lang)]
    seconds = int(round(value))
    if seconds < 60:
        return f"{seconds} {units['s']}"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} {units['min']} {seconds:02d} {units['s']}"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} {units['h']} {minutes:02d} {units['min']}"
    days, hours = divmod(hours, 24)
    return f"{days} {units['d']} {hours:02d} {units['h']}"


def span(seconds: int, lang: str | None = None) -> str:
    """A configured duration in its largest whole unit: ``90 s``, ``5 min``, ``24 h``, ``2 d``."""
    units = UNITS[_lang(lang)]
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds and seconds % size == 0:
            return f"{seconds // size} {units[unit]}"
    return f"{int(seconds)} {units['s']}"


def day(value: date, lang: str | None = None) -> str:
    """``2026-11-27`` (English, ISO) or ``27.11.2026`` (Russian)."""
    return value.strftime("%d.%m.%Y") if _lang(lang) == "ru" else value.isoformat()


def moment(value: datetime, lang: str | None = None) -> str:
    """A date and time to the minute, in the language's date order."""
    return f"{day(value.date(), lang)} {value:%H:%M}"


def file_size(size: int, lang: str | None = None) -> str:
    """``1536`` → ``1.5 KB`` / ``1,5 КБ`` (powers of 1,024)."""
    value = float(size)
    names = UNITS[_lang(lang)]["sizes"]
    for i, unit in enumerate(names):
        if value < 1024 or i == len(names) - 1:
            return f"{number(value, 0 if i == 0 else 1, lang)} {unit}"
        value /= 1024
    return ""


def kpi_value(value, unit: str, lang: str | None = None) -> str:
    """A KPI value in its unit; ``—`` for None (never 0 for "no data")."""
    if value is None:
        return DASH
    if unit == "count":
        return number(value, 0, lang)
    if unit == "percent":
        return percent(float(value), lang=lang)
    if unit == "rating":
        return f"{localized(f'{float(value):.2f}', lang)} / 5"
    if unit == "ms":
        return duration_ms(float(value), lang)
    if unit == "seconds":
        return duration_s(float(value), lang)
    if unit == "money":
        return money(value, lang)
    if unit == "rps":
        return number(float(value), 1 if value < 100 else 0, lang)
    if unit == "nps":
        return f"{float(value):+.0f}" if round(float(value)) != 0 else "0"
    raise ValueError(f"unknown unit {unit!r}")


def kpi_delta(current, previous, unit: str, lang: str | None = None) -> str | None:
    """The change against the previous period, or None when either side has no value.

    Shares (percent, NPS) change in points; everything else in % of the previous value.
    """
    if current is None or previous is None:
        return None
    current, previous = float(current), float(previous)
    if current != current or previous != previous:  # NaN: no value on one side
        return None
    if unit == "percent":
        places = 2 if min(current, previous) >= 99.0 else 1
        return _signed(current - previous, places, t("unit.pp", lang), lang)
    if unit == "nps":  # whole points, the word in the language's plural form (+1 пункт, −12 пунктов)
        change = round(current - previous)
        if change == 0:
            return tn("unit.points", 0, lang)
        return ("+" if change > 0 else "-") + tn("unit.points", abs(change), lang)
    if unit == "rating":
        return _signed(current - previous, 2, "", lang)
    if previous == 0:
        return None
    return _signed(100.0 * (current - previous) / abs(previous), 1, "%", lang)


def _signed(change: float, places: int, suffix: str = "", lang: str | None = None) -> str:
    """``+1.2 pp``; a change that rounds to zero is ``0.0`` with no sign (no arrow up or down)."""
    text = f"{change:+.{places}f}"
    if float(text) == 0:
        text = f"{0:.{places}f}"
    return f"{localized(text, lang)} {suffix}".rstrip()


def is_unchanged(delta: str | None) -> bool:
    return delta is not None and not delta.startswith(("+", "-"))


# CLDR's abbreviated Russian months: after a day number (genitive: "3 июля"), and standing alone,
# as a month of a year ("июль 2026").
RU_MONTHS = ("янв.", "февр.", "марта", "апр.", "мая", "июня", "июля", "авг.", "сент.", "окт.", "нояб.", "дек.")
RU_MONTHS_ALONE = ("янв.", "февр.", "март", "апр.", "май", "июнь", "июль", "авг.", "сент.", "окт.", "нояб.", "дек.")


def time_ticks(first: datetime, last: datetime, lang: str | None = None, most: int = 10) -> tuple[list, list[str]]:
    """Tick positions between ``first`` and ``last`` (at most about ``most``) and their labels in
    the language: ``3 нояб.``, ``09:00`` (with the day under the first tick of each day)."""
    import pandas as pd

    span = (last - first).total_seconds()
    steps = [("h", 1), ("h", 2), ("h", 3), ("h", 6), ("h", 12), ("D", 1), ("D", 2), ("D", 7), ("D", 14),
             ("MS", 1), ("MS", 3), ("MS", 6), ("YS", 1)]
    seconds = {"h": 3600, "D": 86400, "MS": 30 * 86400, "YS": 365 * 86400}
    unit, count = next(((u, c) for u, c in steps if span / (seconds[u] * c) <= most), ("YS", 1))
    start = pd.Timestamp(first).floor("D") if unit != "h" else pd.Timestamp(first).floor("h")
    if unit == "h":  # hours on multiples of the step: 00:00, 03:00, 06:00 …
        start -= pd.Timedelta(hours=start.hour % count)
    if unit == "MS":
        start = start.replace(day=1)
    if unit == "YS":
        start = start.replace(month=1, day=1)
    ticks = [tick for tick in pd.date_range(start, pd.Timestamp(last), freq=f"{count}{unit}") if tick >= first]
    if unit == "D" and count == 7:  # weeks start on Monday, as the weekly buckets do
        ticks = [tick for tick in pd.date_range(start - pd.Timedelta(days=start.weekday()), last, freq="7D")
                 if tick >= first]
    ru = _lang(lang) == "ru"
    labels, seen_days = [], set()
    for tick in ticks:
        month = RU_MONTHS[tick.month - 1] if ru else tick.strftime("%b")
        day_label = f"{tick.day} {month}"
        if unit == "h":
            label = f"{tick:%H:%M}" + ("" if tick.date() in seen_days else f"<br>{day_label}")
            seen_days.add(tick.date())
        elif unit in ("MS", "YS"):
            label = f"{RU_MONTHS_ALONE[tick.month - 1]} {tick.year}" if ru else tick.strftime("%b %Y")
        else:
            label = day_label
        labels.append(label)
    return [tick.to_pydatetime() for tick in ticks], labels
