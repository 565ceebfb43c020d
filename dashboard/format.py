"""Numbers, money, durations and deltas as text. Pure functions, no Streamlit."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from dashboard.i18n import t

DASH = "—"


def number(value: float | int, decimals: int = 0) -> str:
    """``1234.5`` → ``1,234.5`` (with ``decimals`` places)."""
    return f"{value:,.{decimals}f}"


def percent(value: float, decimals: int | None = None) -> str:
    """``81.234`` → ``81.2 %``; near 100 (uptime, SLA) two places, so 99.95 is not 100.0."""
    if decimals is None:
        decimals = 2 if 99.0 <= value < 100.0 else 1
    return f"{value:.{decimals}f} %"


def money(value: Decimal | float) -> str:
    """USD with cents, rounded half up: ``Decimal('1234.5678')`` → ``$1,234.57``."""
    cents = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents):,.2f}"


def duration_ms(value: float) -> str:
    """Milliseconds below ten seconds as ``845 ms`` / ``1.84 s``, longer as a duration."""
    if value < 1000:
        return f"{value:,.0f} ms"
    if value < 10_000:
        return f"{value / 1000:.2f} s"
    return duration_s(value / 1000)


def duration_s(value: float) -> str:
    """Seconds as ``45 s``, ``4 min 12 s``, ``3 h 05 min`` or ``2 d 04 h``."""
    seconds = int(round(value))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours:02d} h"


def file_size(size: int) -> str:
    """``1536`` → ``1.5 KB`` (powers of 1,024)."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} GB"


def kpi_value(value, unit: str) -> str:
    """A KPI value in its unit; ``—`` for None (never 0 for "no data")."""
    if value is None:
        return DASH
    if unit == "count":
        return number(value)
    if unit == "percent":
        return percent(float(value))
    if unit == "rating":
        return f"{float(value):.2f} / 5"
    if unit == "ms":
        return duration_ms(float(value))
    if unit == "seconds":
        return duration_s(float(value))
    if unit == "money":
        return money(value)
    if unit == "rps":
        return number(float(value), 1 if value < 100 else 0)
    if unit == "nps":
        return f"{float(value):+.0f}" if round(float(value)) != 0 else "0"
    raise ValueError(f"unknown unit {unit!r}")


def kpi_delta(current, previous, unit: str) -> str | None:
    """The change against the previous period, or None when either side has no value.

    Shares (percent, NPS) change in points; everything else in % of the previous value.
    """
    if current is None or previous is None:
        return None
    current, previous = float(current), float(previous)
    if unit == "percent":
        places = 2 if min(current, previous) >= 99.0 else 1
        return _signed(current - previous, places, t("unit.pp"))
    if unit == "nps":
        return _signed(current - previous, 0, t("unit.points"))
    if unit == "rating":
        return _signed(current - previous, 2)
    if previous == 0:
        return None
    return _signed(100.0 * (current - previous) / abs(previous), 1, "%")


def _signed(change: float, places: int, suffix: str = "") -> str:
    """``+1.2 pp``; a change that rounds to zero is ``0.0`` with no sign (no arrow up or down)."""
    text = f"{change:+.{places}f}"
    if float(text) == 0:
        text = f"{0:.{places}f}"
    return f"{text} {suffix}".rstrip()


def is_unchanged(delta: str | None) -> bool:
    return delta is not None and not delta.startswith(("+", "-"))
