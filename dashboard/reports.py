"""Reports as text: Markdown, self-contained HTML (charts inline, opens offline) and XLSX (a sheet
per section), in the dashboard's languages; and the command line for cron and e-mail:

    python -m dashboard.reports --period weekly --date 2026-11-23 --format html --out weekly.html

Without ``--date``, the last complete period. The numbers come from data_access.reports.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import plotly.graph_objects as go  # noqa: E402

from data_access import reports as rp  # noqa: E402
from data_access.engine import read_secrets  # noqa: E402
from data_access.filters import Filters  # noqa: E402
from data_access.catalogue import KPIS  # noqa: E402
from dashboard import charts, format as fmt, names, why  # noqa: E402
from dashboard.i18n import t  # noqa: E402

FORMATS = ("md", "html", "xlsx")
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def value_text(value, unit: str, lang: str, text=fmt.plain_text) -> str:
    """One cited value as the report shows it (tables and recommendations alike); a value from
    the data (``unit == "text"``) passes through ``text`` (``fmt.md_text`` for Markdown)."""
    if unit == "text":
        return text(value)
    if unit == "split":  # where a change came from, in a sentence (dashboard.why)
        return why.sentence(value, lang, text)
    if unit == "kpi":
        return t(f"kpi.{value}.label", lang)
    if unit == "intent":  # an intent code, by its name (dashboard.names)
        return text(names.intent(value, lang))
    if unit == "titles":  # alert rules' titles, (English, Russian) each
        return ", ".join(text(ru if lang == "ru" else en) for en, ru in value)
    if unit == "bucket":
        stamp = pd.Timestamp(value)
        return fmt.moment(stamp.to_pydatetime(), lang) if (stamp.hour or stamp.minute) else fmt.day(stamp.date(), lang)
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "—"
    return fmt.kpi_value(value, unit, lang)


# A report unit → (what its value is divided by, the cell's number style): Excel's percent format
# takes a fraction, its time format days.
XLSX_UNITS = {"count": (1, "count"), "percent": (100, "percent"), "rating": (1, "decimal"), "ms": (1000, "seconds"),
              "seconds": (86400, "duration"), "money": (1, "usd"), "rps": (1, "decimal"), "nps": (1, "signed")}


def xlsx_value(value, unit: str, lang: str, text=fmt.plain_text):
    """``value_text``'s counterpart for the workbook: a number with its unit as the cell's number
    format (``data_access.xlsx.Number``), so Excel sums and charts it; None stays empty."""
    from data_access.xlsx import Number

    if unit in ("text", "kpi", "bucket"):
        if unit == "bucket":
            return pd.Timestamp(value).to_pydatetime()
        return value_text(value, unit, lang, text)
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    divisor, style = XLSX_UNITS[unit]
    if unit == "percent" and 99.0 <= float(value) < 100.0:  # as format.percent: 99.96 % is not 100.0 %
        style = "percent_near_100"
    return Number(float(value) / divisor, style)


def xlsx_change(current, previous, unit: str, lang: str):
    """``format.kpi_delta``'s counterpart for the workbook: the change as a number whose format
    carries its kind (points of a share, whole NPS points, rating points, else a relative change
    in %); None (an empty cell) where ``kpi_delta`` has none."""
    from data_access.xlsx import Number

    if fmt.kpi_delta(current, previous, unit, lang) is None:
        return None
    current, previous = float(current), float(previous)
    if unit == "percent":
        return Number(current - previous, "signed_pp_ru" if lang == "ru" else "signed_pp")
    if unit == "nps":
        return Number(float(round(current - previous)), "signed")
    if unit == "rating":
        return Number(current - previous, "signed_decimal")
    return Number((current - previous) / abs(previous), "signed_percent")


def xlsx_contribution(value, unit: str, lang: str):
    """A segment's contribution to a change: points of a share, rating points, else the KPI's unit."""
    from data_access.xlsx import Number

    if value is None:
        return None
    if unit == "percent":
        return Number(value, "signed_pp_ru" if lang == "ru" else "signed_pp")
    if unit in ("rating", "nps"):
        return Number(value, "signed_decimal")
    return xlsx_value(value, unit, lang)


def driver(found, lang: str, text=fmt.plain_text) -> str:
    """A split's largest segment and its contribution, ``telegram (−10.2 pp)``; "" for none."""
    if found is None or not found.exact or not found.segments or not found.delta:
        return ""
    first = found.segments[0]
    return f"{why.segment_label(first.values, lang, text)} ({why.signed(first.total, KPIS[found.key].unit, lang)})"


def split_rows(report: rp.Report, lang: str, text=fmt.plain_text, numbers: bool = False) -> pd.DataFrame:
    """Each KPI change of the report split by segment (its largest segments and the rest): the
    period's against the previous period, then each explained anomaly's against a week before."""
    cell = xlsx_value if numbers else value_text
    share = lambda v: None if v is None else 100 * v  # noqa: E731
    rows = []
    anomalies = [] if report.anomalies.empty or "split" not in report.anomalies else \
        [(r["bucket"], r["kpi"], r["split"]) for r in report.anomalies.to_dict("records") if r["split"] is not None]
    for when, key, found in [*((None, k, f) for k, f in report.splits.items()), *anomalies]:
        if not found.segments or not found.delta:
            continue
        unit = KPIS[key].unit
        change_of = (lambda v: xlsx_contribution(v, unit, lang)) if numbers else \
            (lambda v: "" if v is None else why.signed(v, unit, lang))
        shown, rest = found.top()
        for segment in [*shown, *([rest] if rest else [])]:
            rows.append({
                t("reports.col.when", lang): (cell(when, "bucket", lang) if when is not None
                                              else t("reports.this_period", lang)),
                t("reports.col.kpi", lang): t(f"kpi.{key}.label", lang),
                t("reports.col.split_by", lang): t(f"why.by.{found.dimensions[0]}", lang),
                t("why.col.segment", lang): (t("why.rest", lang, n=len(found.segments) - len(shown)) if segment is rest
                                             else why.segment_label(segment.values, lang, text)),
                t("why.col.before", lang): None if segment is rest else cell(segment.before, unit, lang),
                t("why.col.after", lang): None if segment is rest else cell(segment.after, unit, lang),
                t("reports.col.share_before", lang): cell(share(segment.share_before), "percent", lang),
                t("reports.col.share_after", lang): cell(share(segment.share_after), "percent", lang),
                t("why.col.mix", lang): change_of(segment.mix),
                t("why.col.rate", lang): change_of(segment.rate),
                t("why.col.total", lang): change_of(segment.total)})
    return pd.DataFrame(rows)


def file_name(report: rp.Report, extension: str) -> str:
    """The report's file name with its kind, filters and period (``filters.download_name``):
    ``report_weekly_whatsapp_2026-11-23_2026-11-29.html``."""
    from dashboard.filters import download_name

    base = report.filters or Filters(datetime.combine(report.period.start, time()), datetime.combine(report.period.end, time()))
    return download_name(f"report_{report.kind}", report.period.filters(base), extension)


def title(report: rp.Report, lang: str) -> str:
    end = report.period.end - timedelta(days=1)
    span = fmt.day(report.period.start, lang) if report.kind == "daily" else \
        f"{fmt.day(report.period.start, lang)} – {fmt.day(end, lang)}"
    return t(f"reports.title.{report.kind}", lang, span=span)


def sentences(report: rp.Report, lang: str, text=fmt.plain_text) -> list[str]:
    """The recommendations, values from the data passed through ``text`` (see ``value_text``)."""
    return [t(r.key, lang, **{k: value_text(v, u, lang, text) for k, (v, u) in r.values.items()})
            for r in report.recommendations]


def sections(report: rp.Report, lang: str, text=fmt.plain_text,
             numbers: bool = False) -> list[tuple[str, pd.DataFrame]]:
    """The report's sections as (heading, table of display texts); none for a period without
    data (the header says so: a table of zeros would read as measured zeros). Names from the
    data (platforms, intents, models, rules, services) pass through ``text``. With ``numbers``
    (the workbook) values are numbers with their formats (``xlsx_value``), not display texts."""
    out = []
    cell = xlsx_value if numbers else value_text
    if not report.has_data:
        return out
    kpi_rows = [{t("reports.col.kpi", lang): t(f"kpi.{r['key']}.label", lang),
                 t("reports.col.current", lang): cell(r["current"], r["unit"], lang),
                 t("reports.col.previous", lang): cell(r["previous"], r["unit"], lang),
                 t("reports.col.change", lang): xlsx_change(r["current"], r["previous"], r["unit"], lang) if numbers
                 else fmt.kpi_delta(r["current"], r["previous"], r["unit"], lang) or "—",
                 t("reports.col.n", lang): cell(r["n"], "count", lang),
                 t("reports.col.driver", lang): driver(report.splits.get(r["key"]), lang, text)}
                for r in report.kpis.to_dict("records")]
    out.append((t("reports.kpis", lang), pd.DataFrame(kpi_rows)))

    def breakdown(frame: pd.DataFrame, by: str, with_previous: bool = False) -> pd.DataFrame:
        rows = []
        for r in frame.to_dict("records"):
            row = {t(f"col.{by}", lang): text(names.intent(r[by], lang) if by == "intent" else r[by]),
                   t("kpi.dialogs.label", lang): cell(r["dialogs"], "count", lang),
                   t("kpi.messages.label", lang): cell(r["messages"], "count", lang),
                   t("kpi.csat.label", lang): cell(r["csat"], "percent", lang),
                   t("kpi.escalation_rate.label", lang): cell(r["escalation_rate"], "percent", lang)}
            if with_previous:
                row[t("reports.col.escalation_before", lang)] = cell(r.get("previous_escalation_rate"), "percent", lang)
            row |= {t("kpi.conversion_rate.label", lang): cell(r["conversion_rate"], "percent", lang),
                    t("kpi.avg_response_time.label", lang): cell(r["avg_response_ms"], "ms", lang),
                    t("kpi.p95_response_time.label", lang): cell(r["p95_response_ms"], "ms", lang),
                    t("kpi.cost.label", lang): cell(r["cost"], "money", lang)}
            rows.append(row)
        return pd.DataFrame(rows)

    out.append((t("reports.by_platform", lang), breakdown(report.platforms, "platform")))
    out.append((t("reports.by_intent", lang), breakdown(report.intents, "intent", with_previous=True)))
    splits = split_rows(report, lang, text, numbers)
    if not splits.empty:
        out.append((t("reports.splits", lang), splits))
    anomalies = [{t("reports.col.when", lang): cell(r["bucket"], "bucket", lang),
                  t("reports.col.kpi", lang): t(f"kpi.{r['kpi']}.label", lang),
                  t("reports.col.value", lang): cell(r["value"], r["unit"], lang),
                  t("reports.col.normal", lang): cell(r["normal"], r["unit"], lang),
                  t("reports.col.deviation", lang): cell(r["change"], "percent", lang) if numbers
                  else fmt.localized(f"{r['change']:+.0f} %", lang),
                  t("reports.col.z", lang): (cell(r["z"], "rating", lang) if abs(r["z"]) < 1e6 else None) if numbers
                  else fmt.localized(f"{r['z']:+.1f}", lang) if abs(r["z"]) < 1e6 else "∞",
                  t("reports.col.driver", lang): driver(r.get("split"), lang, text)}
                 for r in report.anomalies.to_dict("records")]
    out.append((t("reports.anomalies", lang, n=len(anomalies)), pd.DataFrame(anomalies)))
    critical = int((report.alerts["severity"] == "critical").sum()) if not report.alerts.empty else 0
    fired = [{t("col.rule", lang): text(r["title_ru"] if lang == "ru" else r["title"]), t("col.label", lang): text(r["key"]) if r["key"] else "",
              t("col.severity", lang): t(f"alerts.severity.{r['severity']}", lang),
              t("col.fired_at", lang): cell(r["fired_at"], "bucket", lang),
              t("col.resolved_at", lang): (t("alerts.still_firing", lang) if pd.isna(r["resolved_at"])
                                           else cell(r["resolved_at"], "bucket", lang))}
             for r in report.alerts.to_dict("records")]
    out.append((t("reports.alerts", lang, count=value_text(len(fired), "count", lang),
                  critical=value_text(critical, "count", lang)), pd.DataFrame(fired)))
    if report.kind == "monthly":
        out.append((t("reports.models", lang), breakdown(report.models, "ai_model")))
        services = [{t("sla.name.services", lang): text(r["name"]), t("col.uptime", lang): cell(r["uptime"], "percent", lang),
                     t("col.downtime", lang): cell(r["downtime_minutes"] * 60, "seconds", lang),
                     t("col.budget", lang): cell(r["budget_minutes"] * 60, "seconds", lang),
                     t("col.compliant", lang): t("sla.met" if r["compliant"] else "sla.missed", lang)}
                    for r in report.sla_services.to_dict("records")]
        out.append((t("reports.sla", lang, target=value_text(report.targets.uptime_percent, "percent", lang)),
                    pd.DataFrame(services)))
    return out


def trend_figures(report: rp.Report, lang: str) -> list[tuple[str, go.Figure]]:
    """Weekly and monthly reports: the daily values of the headline KPIs."""
    if report.kind == "daily" or report.trend.empty:
        return []
    x_title = t("chart.time", lang, tz=report.filters.tz if report.filters else "UTC")
    out = []
    # Times in seconds, as the tiles say them.
    trend = report.trend.assign(**({"avg_response_time": report.trend["avg_response_time"] / 1000}
                                   if "avg_response_time" in report.trend else {}))
    for keys, suffix in ((("messages", "dialogs"), ""), (("csat", "escalation_rate", "conversion_rate"), " %"),
                         (("avg_response_time",), " " + t("unit.s", lang)), (("error_rate",), " %")):
        present = [k for k in keys if k in trend and trend[k].notna().any()]
        if not present:
            continue
        long = trend.melt(id_vars=["bucket"], value_vars=present, var_name="kpi", value_name="value")
        long["kpi"] = long["kpi"].map(lambda k: t(f"kpi.{k}.label", lang))
        name = " · ".join(t(f"kpi.{k}.label", lang) for k in present)
        fig = go.Figure(charts.lines(long.dropna(), "bucket", "value", x_title, "", series="kpi",
                                     y_suffix=suffix, legend_title=""))  # a copy: the built one is shared
        # Outside Streamlit nothing adds room for the tick labels: give the axes their own margins.
        fig.update_layout(margin=dict(l=72, r=24, t=48, b=56), height=320)
        fig.update_xaxes(automargin=True, tickformat="%d.%m" if lang == "ru" else "%b %d",
                         dtick=86400000 if report.kind == "weekly" else None)
        fig.update_yaxes(automargin=True)
        out.append((name, fig))
    return out


def header_lines(report: rp.Report, lang: str, text=fmt.plain_text) -> list[str]:
    lines = [t("reports.compared", lang, previous=f"{fmt.day(report.previous.start, lang)} – "
                                               f"{fmt.day(report.previous.end - timedelta(days=1), lang)}")]
    if report.filters is not None:
        dims = [f"{t(f'col.{name}', lang)}: {', '.join(text(v) for v in values)}" for name, values in
                (("platform", report.filters.platforms),
                 ("intent", tuple(names.intent(i, lang) for i in report.filters.intents)),
                 ("ai_model", report.filters.models)) if values]
        lines.append(t("reports.scope", lang, tz=report.filters.tz,
                       filters="; ".join(dims) if dims else t("reports.all_data", lang)))
    lines.append(t("reports.targets", lang, uptime=value_text(report.targets.uptime_percent, "percent", lang),
                   response=value_text(report.targets.response_time_ms, "ms", lang)))
    if report.partial:
        lines.append(t("reports.partial", lang))
    if not report.has_data:
        lines.append(t("reports.no_data", lang))
    return lines


def to_markdown(report: rp.Report, lang: str = "en") -> str:
    """The report as Markdown; every value from the data escaped (``fmt.md_text``), so the file
    carries no link, image or HTML that came from the data."""
    md = fmt.md_text
    parts = [f"# {title(report, lang)}", ""] + [f"{line}  " for line in header_lines(report, lang, md)] + [""]
    if report.has_data:
        parts += [f"## {t('reports.recommendations', lang)}", ""] + [f"- {s}" for s in sentences(report, lang, md)]
        parts += [""]
    for heading, frame in sections(report, lang, md):
        parts += [f"## {heading}", "", _markdown_table(frame) if not frame.empty else t("reports.none", lang), ""]
    return "\n".join(parts)


def _markdown_table(frame: pd.DataFrame) -> str:
    def cell(v) -> str:  # values from the data come escaped (md_text); the project's own texts hold no "|"
        return fmt.plain_text(v)

    head = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


STYLE = """body{font-family:-apple-system,Segoe UI,Roboto,sans-serif;color:#1F2430;max-width:1100px;margin:24px auto;
padding:0 16px}table{border-collapse:collapse;margin:8px 0 20px;font-size:14px}th,td{border:1px solid #DDE2EA;
padding:4px 8px;text-align:left}th{background:#F4F6FA}.note{color:#5A6272}.partial{color:#B9770E;font-weight:600}"""


def to_html(report: rp.Report, lang: str = "en", charts: bool = True) -> str:
    """One self-contained page: the tables, and plotly.js inlined once for the charts (without
    ``charts``: the tables alone, for the body of an e-mail, where no script runs)."""
    import html as h

    parts = [f"<!doctype html><html lang='{lang}'><head><meta charset='utf-8'><title>{h.escape(title(report, lang))}"
             f"</title><style>{STYLE}</style></head><body><h1>{h.escape(title(report, lang))}</h1>"]
    parts += [f"<p class='note'>{h.escape(line)}</p>" for line in header_lines(report, lang)]
    if report.has_data:
        parts.append(f"<h2>{h.escape(t('reports.recommendations', lang))}</h2><ul>"
                     + "".join(f"<li>{h.escape(s)}</li>" for s in sentences(report, lang)) + "</ul>")
    for heading, frame in sections(report, lang):
        parts.append(f"<h2>{h.escape(heading)}</h2>")
        parts.append(frame.to_html(index=False, escape=True, border=0) if not frame.empty
                     else f"<p>{h.escape(t('reports.none', lang))}</p>")
    figures = trend_figures(report, lang) if charts else []
    if figures:
        parts.append(f"<h2>{h.escape(t('reports.trends', lang))}</h2>")
        for i, (name, fig) in enumerate(figures):
            parts.append(f"<h3>{h.escape(name)}</h3>")
            parts.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0), config={"displaylogo": False}))
    parts.append("</body></html>")
    return "\n".join(parts)


def to_xlsx(report: rp.Report, lang: str = "en") -> bytes:
    """A workbook: "Summary" (title, notes, recommendations) and one sheet per section, written by
    the project's one XLSX writer (``data_access.xlsx``: every text an inline string, never a
    formula; characters XML cannot hold dropped)."""
    from data_access.xlsx import StreamingXlsx

    out = io.BytesIO()
    book = StreamingXlsx(out)
    used = {t("reports.sheet.summary", lang)[:31]}
    book.start_sheet(next(iter(used)), freeze_header=False, widths=[120])
    for line in [title(report, lang), *header_lines(report, lang), None]:
        book.write_row([line])
    if report.has_data:
        book.write_row([t("reports.recommendations", lang)])
        for sentence in sentences(report, lang):
            book.write_row([sentence])
    for heading, frame in sections(report, lang, numbers=True):
        name = heading.split(" (")[0][:31]
        while name in used:
            name = name[:29] + "_2"
        used.add(name)
        book.start_sheet(name, [str(c) for c in frame.columns] or [t("reports.none", lang)],
                         widths=[max(12, min(40, len(str(c)) + 4)) for c in frame.columns])
        for row in frame.itertuples(index=False):
            book.write_row(list(row))
    if not report.trend.empty:
        columns = ["bucket"] + [k for k in rp.ANOMALY_KPIS if k in report.trend]
        book.start_sheet(t("reports.trends", lang)[:31],
                         [t("reports.col.when", lang)] + [t(f"kpi.{k}.label", lang) for k in columns[1:]])
        for row in report.trend[columns].itertuples(index=False):
            book.write_row([pd.Timestamp(row[0]).to_pydatetime()] + [None if pd.isna(v) else float(v) for v in row[1:]])
    book.close()
    return out.getvalue()


def render(report: rp.Report, kind: str, lang: str = "en") -> bytes:
    """The report as a file's bytes in ``kind`` (md, html or xlsx). Raises ``ValueError`` otherwise."""
    if kind == "md":
        return to_markdown(report, lang).encode("utf-8")
    if kind == "html":
        return to_html(report, lang).encode("utf-8")
    if kind == "xlsx":
        return to_xlsx(report, lang)
    raise ValueError(f"unknown format {kind!r}; one of {', '.join(FORMATS)}")


def _day(text: str) -> date:
    """A report's day from the command line: ISO, and far enough from year 1 and 9999 that the
    period, its comparison and its weekday baselines stay valid dates."""
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None
    if not date(1900, 1, 1) <= value <= date(9998, 12, 31):
        raise argparse.ArgumentTypeError(f"{text} is outside 1900-01-01 … 9998-12-31")
    return value


def main(argv: list[str] | None = None) -> int:
    """The command line; every failure is one line on standard error and a non-zero exit."""
    from data_access.export import OneLineParser

    parser = OneLineParser(prog="python -m dashboard.reports",
                           description="Write a daily, weekly or monthly report to a file.")
    parser.add_argument("--period", choices=rp.KINDS, default="weekly")
    parser.add_argument("--date", type=_day, default=None,
                        help="a day inside the period, YYYY-MM-DD (default: the last complete period)")
    parser.add_argument("--format", choices=FORMATS, default="html")
    parser.add_argument("--out", help="the file to write (required unless --mail-to)")
    parser.add_argument("--mail-to", help="e-mail the report to these addresses (comma-separated): the HTML "
                                          "report with the XLSX attached, over SMTP (EASYFLOW_SMTP_*)")
    parser.add_argument("--url", default=None, help="database URL (default: as the dashboard resolves it)")
    parser.add_argument("--lang", choices=("en", "ru"), default="en")
    parser.add_argument("--tz", default="UTC", help="timezone of the periods (default UTC)")
    args = parser.parse_args(argv)
    if not args.out and not args.mail_to:
        parser.error("--out or --mail-to is required")
    from dashboard import report_mail
    from data_access import errors
    from data_access.alert_rules import load_rules
    from data_access.engine import make_engine, resolve_config
    from data_access.schema import discover
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        now = datetime.now(ZoneInfo(args.tz)).replace(tzinfo=None)
    except (ZoneInfoNotFoundError, ValueError):
        print(f"error: unknown timezone {args.tz!r}", file=sys.stderr)
        return 2
    day = args.date or rp.last_complete(args.period, now.date()).start
    out = Path(args.out) if args.out else None
    if out is not None and not out.parent.is_dir():
        print(f"error: cannot write {args.out}: its folder does not exist", file=sys.stderr)
        return 2
    try:
        to = report_mail.recipients(args.mail_to) if args.mail_to else []
        smtp = report_mail.SmtpSettings.from_config(os.environ, read_secrets()) if to else None
    except report_mail.MailError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        engine = make_engine(args.url or resolve_config().url)
        report = rp.build(engine, discover(engine), args.period, day, Filters(now, now, tz=args.tz), load_rules(),
                          now=now)
        data = render(report, args.format, args.lang)
    except errors.DATABASE_ERRORS + (ValueError,) as error:
        print(f"error: cannot read the database: {errors.classify(error)}", file=sys.stderr)
        return 2
    flag = " (partial)" if report.partial else "" if report.has_data else " (no data)"
    if out is not None:
        try:
            out.write_bytes(data)
        except OSError as error:
            print(f"error: cannot write {args.out}: {error.strerror or type(error).__name__}", file=sys.stderr)
            return 2
        print(f"{args.out}: {title(report, args.lang)}{flag}, {len(data):,} bytes")
    if to:
        try:
            report_mail.send(report_mail.compose(report, args.lang, smtp.sender, to), smtp)
        except report_mail.MailError as error:
            print(f"error: {error}", file=sys.stderr)
            return 3
        print(f"mailed to {', '.join(to)}: {title(report, args.lang)}{flag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
