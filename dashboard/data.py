"""The one cache layer over data_access, and the database's state for every page.

Cached results are keyed by the database URL and the ``Filters`` value (never by a DataFrame);
errors are not cached, so a database that comes back is used again on the next rerun.
"""

from __future__ import annotations

import io

import os
from pathlib import Path
import threading
from concurrent.futures import ThreadPoolExecutor
import time
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
import sqlalchemy as sa
import streamlit as st

from data_access import ai, alerts, business, change, errors, export, kpis, logs, operational, series, sla
from dashboard import result_cache
from data_access.alert_rules import RuleSet, SlaTargets, load_rules, rules_path
from data_access.business import problem_intents  # noqa: F401  (pages rank through here)
from data_access.sql import bucket_for, ops_bucket, trend_bucket  # noqa: F401  (pages choose buckets through here)
from data_access.engine import DatabaseConfig, make_engine, resolve_config
from data_access.filters import Filters
from data_access.schema import Schema, discover
from dashboard import auth, rollup_upkeep
from dashboard.i18n import t
from dashboard.database_problems import (database_errors, describe_error,  # noqa: F401  (pages show errors through here)
                                         show_database_error)

CACHE_TTL_SECONDS = 300


@st.cache_resource(show_spinner=False)
def engine_for(url: str) -> sa.Engine:
    return make_engine(url)


# --- what imports changed -------------------------------------------------------------------------
# Cached results carry a version: the number of imports (in this process) that wrote rows inside
# the range they read. An import that writes nothing changes no version; one that writes rows of
# last week leaves this week's results cached.
_imports: list[tuple[str, datetime, datetime]] = []  # (url, first, last timestamp written, UTC)
_imports_lock = threading.Lock()


def note_import(url: str, first: datetime | None, last: datetime | None) -> None:
    """Record that an import wrote rows with timestamps from ``first`` to ``last`` (UTC) into ``url``."""
    if first is None or last is None:
        return
    with _imports_lock:
        _imports.append((url, first, last))
    invalidate_shared(url)


def invalidate_shared(url: str) -> None:
    """A write changed ``url``'s data: the other replicas' shared results of it are stale."""
    cache = result_cache.shared(CACHE_TTL_SECONDS, auth.app_secrets())
    database = _shared_database(url) if cache is not None else None
    if database is not None:
        cache.bump(database)


def _shared(name: str, url: str, key_parts: tuple, compute):
    """``compute()`` through the replicas' shared cache when there is one (``result_cache``)."""
    cache = result_cache.shared(CACHE_TTL_SECONDS, auth.app_secrets())
    database = _shared_database(url) if cache is not None else None
    if database is None:
        return compute()
    return cache.fetch(name, key_parts, compute, database)


_identities: dict[str, str] = {}


def _shared_database(url: str) -> str | None:
    """``url``'s database as the shared cache's key, with its identity (asked once per process);
    None while the database cannot say (nothing is shared then)."""
    if url not in _identities:
        try:
            _identities[url] = result_cache.database_identity(engine_for(url))
        except Exception:  # noqa: BLE001 - the page's own query will report the database's problem
            return None
    return result_cache.database_id(url, _identities[url])


def data_version(url: str, filters: Filters | None = None) -> int:
    """How many imports wrote rows into ``url`` within the filters' range (any range: None)."""
    bounds = filters.utc_bounds() if filters is not None else None
    with _imports_lock:
        return sum(1 for where, first, last in _imports
                   if where == url and (bounds is None or (first < bounds[1] and last >= bounds[0])))


def schema_for(url: str) -> Schema:
    return _schema_for(url, data_version(url))


@st.cache_data(ttl=60, max_entries=8, show_spinner=False)
def _schema_for(url: str, version: int) -> Schema:
    return discover(engine_for(url))


def options_for(url: str) -> series.FilterOptions:
    return _options_for(url, data_version(url))


# Option lists scan the whole table and change rarely: an hour, shared by every session.
@st.cache_data(ttl=3600, max_entries=8, show_spinner=False)
def _options_for(url: str, version: int) -> series.FilterOptions:
    return series.filter_options(engine_for(url), schema_for(url))


def kpi_values(url: str, filters: Filters, keys: tuple[str, ...]) -> dict[str, kpis.KpiValue]:
    """The tiles ``keys`` over ``filters``: the service ones from Prometheus when it is configured
    (``service_metrics``; no value, and a notice, when it does not answer), the rest from SQL."""
    from dashboard import service_metrics

    served = tuple(k for k in keys if service_metrics.answers(k))
    rest = tuple(k for k in keys if k not in served)
    values = dict(_kpi_values(url, filters, rest, data_version(url, filters))) if rest else {}
    if served:
        values.update(service_metrics.kpis_or_notice(filters, served))
    return {key: values[key] for key in keys}


@st.cache_data(ttl=CACHE_TTL_SECONDS, max_entries=512, show_spinner=False)
def _kpi_values(url: str, filters: Filters, keys: tuple[str, ...], version: int) -> dict[str, kpis.KpiValue]:
    frame = _shared("kpis", url, ("kpis", filters, keys, version),
                    lambda: kpi_frame(kpis.compute(engine_for(url), schema_for(url), filters, keys)))
    return kpis_of(frame)


def kpi_frame(values: dict[str, kpis.KpiValue]) -> pd.DataFrame:
    """KPI values as a frame that Arrow holds exactly: the value as text with its kind."""
    rows = []
    for key, value in values.items():
        kind = "none" if value.value is None else type(value.value).__name__
        rows.append((key, None if value.value is None else str(value.value), kind, int(value.n), int(value.ignored),
                     value.reason, int(value.pending)))
    return pd.DataFrame(rows, columns=["key", "value", "kind", "n", "ignored", "reason", "pending"])


def kpis_of(frame: pd.DataFrame) -> dict[str, kpis.KpiValue]:
    """``kpi_frame``'s inverse."""
    from decimal import Decimal

    kinds = {"int": int, "float": float, "Decimal": Decimal, "float64": float, "int64": int}
    out = {}
    for row in frame.itertuples(index=False):
        value = None if row.kind == "none" or row.value is None else kinds.get(row.kind, float)(row.value)
        out[row.key] = kpis.KpiValue(row.key, value, int(row.n), int(row.ignored),
                                     row.reason if isinstance(row.reason, str) else None, int(row.pending))
    return out


# The data_access functions pages may ask for through ``query``: (engine, schema, filters, *args).
QUERIES = {
    "dialogs_by_platform": series.dialogs_by_platform,
    "breakdown": business.breakdown,
    "latency_percentiles": ai.latency_percentiles,
    "latency_histogram": ai.latency_histogram,
    "accuracy_trend": ai.accuracy_trend,
    "accuracy_by_intent": ai.accuracy_by_intent,
    "confusion_pairs": ai.confusion_pairs,
    "calibration": ai.calibration,
    "helpful_trend": ai.helpful_trend,
    "usage_by_model": ai.usage_by_model,
    "cost_outcomes": ai.cost_outcomes,
    "latest_escalations": ai.latest_escalations,
    "export_summary": export.page_summary,
    "csat_trend": business.csat_trend,
    "rating_distribution": business.rating_distribution,
    "nps_trend": business.nps_trend,
    "nps_comments": business.nps_comments,
    "nps_comment_count": lambda engine, schema, filters, detractors: pd.DataFrame(
        {"n": [business.nps_comment_count(engine, schema, filters, detractors)]}),
    "dialog_outcomes_trend": business.dialog_outcomes_trend,
    "conversion_by_platform": business.conversion_by_platform,
    "resolution_histogram": business.resolution_histogram,
    "top_repeat_users": business.top_repeat_users,
    "unhappy_dialogs": business.unhappy_dialogs,
    "messages_of": lambda engine, schema, filters, user_id, session_id: business.messages_of(
        engine, schema, filters, user_id=user_id, session_id=session_id),
    "traffic": operational.traffic,
    "errors_over_time": operational.errors_over_time,
    "top_errors": operational.top_errors,
    "latest_errors": operational.latest_errors,
    "resources": operational.resources,
    "resources_now": operational.resources_now,
    "active_sessions_over_time": operational.active_sessions_over_time,
    "service_status": operational.service_status,
    "status_intervals": operational.status_intervals,
    "integrations": operational.integrations,
    "review_candidates": alerts.review_candidates,
    "segment_terms": change.segment_terms,
}


def query(name: str, url: str, filters: Filters, *args) -> pd.DataFrame:
    """The small DataFrame of the data_access function ``name`` (see ``QUERIES``), cached by
    name, database, filters, arguments and ``data_version``. Raises ``KeyError`` for a name not
    in ``QUERIES``."""
    return _query(name, url, filters, data_version(url, filters), *args)


@st.cache_data(ttl=CACHE_TTL_SECONDS, max_entries=1024, show_spinner=False)
def _query(name: str, url: str, filters: Filters, version: int, *args) -> pd.DataFrame:
    return _shared(name, url, (name, filters, args, version),
                   lambda: QUERIES[name](engine_for(url), schema_for(url), filters, *args))


def change_split(url: str, filters: Filters, compared: Filters, key: str, by: str) -> change.Split:
    """KPI ``key``'s change from ``compared`` to ``filters`` split by ``by`` (a dimension, or
    "pair": the pair with a segment that explains the most, ``change.concentration``), from the cached sums
    of its terms per segment (``change.segment_terms``)."""
    pairs = change.PAIRS if by == "pair" else ((by,),)
    splits = [change.decompose(key, dims, *(query("segment_terms", url, f, (key,), dims) for f in (compared, filters)))
              for dims in pairs]
    return max(splits, key=change.concentration)


def fresh(name: str, url: str, filters: Filters, *args) -> pd.DataFrame:
    """``query`` with a five-second cache, for the "now" panels of live mode."""
    return _fresh(name, url, filters, data_version(url, filters), *args)


@st.cache_data(ttl=5, max_entries=64, show_spinner=False)
def _fresh(name: str, url: str, filters: Filters, version: int, *args) -> pd.DataFrame:
    return QUERIES[name](engine_for(url), schema_for(url), filters, *args)


@st.cache_data(ttl=5, max_entries=8, show_spinner=False)
def database_health(url: str) -> pd.DataFrame:
    return operational.database_health(engine_for(url), schema_for(url))


def ping_ms(url: str) -> float:
    """The database round trip now (never cached)."""
    return operational.ping_ms(engine_for(url))


def all_comments_csv(url: str, filters: Filters, detractors_only: bool, labels: dict[str, str],
                     order: str = "newest") -> bytes:
    """Every survey comment of the range (not only the page on screen) as CSV, in ``order``,
    made on click."""
    from data_access.spreadsheet import UTF8_BOM, frame_to_csv

    frame = business.nps_comments(engine_for(url), schema_for(url), filters, detractors_only, limit=None, order=order)
    frame = auth.shown_ids(frame)[[c for c in labels if c in frame]].rename(columns=labels)
    return UTF8_BOM + frame_to_csv(frame)


def write_export(url: str, request: export.ExportRequest, fmt: str, lang: str, out, *,
                 principal: auth.Principal) -> dict:
    """Write the export to the binary file ``out`` (CSV with a UTF-8 byte-order mark, so Excel
    reads it right; the command line writes none) with the XLSX "About" sheet in ``lang``; never
    more than a chunk of rows in memory. Checks the role again here, where the rows leave, and
    returns what the audit line says of it (table, format, rows, columns, masking, filters).

    Raises ``auth.Refused`` for a role without the export, ``export.ExportError`` for a request
    the schema cannot answer."""
    if not principal.may("export"):
        auth.audit("export_refused", principal, table=request.table, format=fmt)
        raise auth.Refused("export")
    options = {}
    if fmt == "xlsx":
        options = {"about": {k: t(f"export.about.{k}", lang) for k in export.ABOUT_LABELS},
                   "column_notes": {c: t(f"colnote.{c}", lang) for c in export.COLUMN_NOTES}}
    if fmt == "csv":
        from data_access.spreadsheet import UTF8_BOM

        out.write(UTF8_BOM)
    stats = export.export_binary(engine_for(url), schema_for(url), request, fmt, out, **options)
    return {"table": request.table, "format": fmt, "rows": stats.rows, "columns": list(request.columns),
            "masked": request.mask_user_ids,
            "filters": {**auth.filters_for_audit(request.filters), "user_id": request.user_id,
                        "session_id": request.session_id, "outcomes": list(request.outcomes),
                        "rated_at_most": request.rated_at_most}}


def export_file(url: str, request: export.ExportRequest, fmt: str, lang: str = "en", *,
                principal: auth.Principal) -> bytes:
    """``write_export`` as bytes, audited (``export``): for callers that hold the file anyway."""
    out = io.BytesIO()
    details = write_export(url, request, fmt, lang, out, principal=principal)
    content = out.getvalue()
    auth.audit("export", principal, bytes=len(content), **details)
    return content


@st.cache_data(ttl=CACHE_TTL_SECONDS, max_entries=8, show_spinner=False)
def _rules_at(path: str, modified: float) -> RuleSet:
    return load_rules(Path(path))


def rule_set() -> RuleSet:
    """The alert rules and SLA targets (``alerts.yml`` or ``EASYFLOW_ALERTS_FILE``), read again
    when the file changes."""
    path = rules_path()
    try:
        modified = path.stat().st_mtime
    except OSError:
        modified = -1.0
    return _rules_at(str(path), modified)


def alert_histories(url: str, filters: Filters, rules: RuleSet) -> list[alerts.RuleHistory]:
    """Every valid rule of ``rules`` evaluated over the filters' range (see data_access.alerts)."""
    # Baselines read weeks before the range: any import into this database counts.
    return _alert_histories(url, filters, rules, data_version(url))


@st.cache_data(ttl=CACHE_TTL_SECONDS, max_entries=64, show_spinner=False)
def _alert_histories(url: str, filters: Filters, rules: RuleSet, version: int) -> list[alerts.RuleHistory]:
    return alerts.histories(engine_for(url), schema_for(url), filters, rules.rules, rules.negative_keywords)


def alert_driver(url: str, rule, key: str | None, at: datetime) -> "change.Split | None":
    """Where a firing rule's value came from (``alerts.driver``) at ``at`` (naive UTC)."""
    return _alert_driver(url, rule, key, at, data_version(url))


@st.cache_data(ttl=CACHE_TTL_SECONDS, max_entries=64, show_spinner=False)
def _alert_driver(url: str, rule, key: str | None, at: datetime, version: int) -> "change.Split | None":
    return alerts.driver(engine_for(url), schema_for(url), rule, key, at)


def alertmanager_url() -> str | None:
    """Alertmanager's API address (``EASYFLOW_ALERTMANAGER_URL``), or None when not configured."""
    return os.environ.get("EASYFLOW_ALERTMANAGER_URL", "").strip() or None


@st.cache_data(ttl=15, max_entries=4, show_spinner=False)
def alertmanager_states(am_url: str) -> dict[str, str] | None:
    """Each alert's state in Alertmanager (labels fingerprint → active / silenced / inhibited),
    or None when it cannot be reached (logged; the page says so)."""
    from data_access import alert_watch

    try:
        return alert_watch.alert_states(alert_watch.active_alerts(am_url))
    except alert_watch.AlertmanagerUnavailable as error:
        logs.get("easyflow.alerts").warning("alertmanager_unavailable", problem=str(error))
        return None


def sla_compliance(url: str, filters: Filters, source: str, targets: SlaTargets, by_month: bool) -> pd.DataFrame:
    """``sla.compliance`` of ``source``; the services' from Prometheus when it is configured."""
    from dashboard import service_metrics

    if source == "services" and service_metrics.answers_sla():
        return service_metrics.sla_or_notice(filters, targets, by_month)
    return _sla_compliance(url, filters, source, targets, by_month, data_version(url, filters))


@st.cache_data(ttl=CACHE_TTL_SECONDS, max_entries=128, show_spinner=False)
def _sla_compliance(url: str, filters: Filters, source: str, targets: SlaTargets, by_month: bool,
                    version: int) -> pd.DataFrame:
    return sla.compliance(engine_for(url), schema_for(url), filters, source, targets, by_month)


def report(url: str, kind: str, day: date, filters: Filters):
    """The report of ``kind`` for the period containing ``day`` under the filters' dimensions
    and timezone (see data_access.reports)."""
    # A report compares with earlier periods and weeks: any import into this database counts.
    return _report(url, kind, day, filters, data_version(url))


@st.cache_data(ttl=CACHE_TTL_SECONDS, max_entries=32, show_spinner=False)
def _report(url: str, kind: str, day: date, filters: Filters, version: int):
    from data_access import reports
    from dashboard.filters import local_time

    return reports.build(engine_for(url), schema_for(url), kind, day, filters, rule_set(),
                         now=local_time(filters.tz))


PREFETCH_WORKERS = 2
_prefetched: dict[tuple, float] = {}  # (url, filters, queries, kpi keys) → when prefetched


def prefetch(url: str, filters: Filters, queries=(), kpi_keys: tuple[str, ...] = (), also=()) -> None:
    """Run a page's independent queries at once, each on its own connection, so that the page's
    own calls below find them cached: ``queries`` are ``(name, *args)`` as given to ``query``,
    ``kpi_keys`` the tiles' keys (this period and the comparison period), ``also`` other cached
    calls as ``(label, function)``. Failures are left for those calls to report, in the page,
    with the usual message."""
    from dashboard.filters import comparison_period
    from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

    queries = tuple(tuple(q) for q in queries)
    key = (url, filters, queries, tuple(kpi_keys), tuple(label for label, _ in also), data_version(url))
    now = time.monotonic()
    if now - _prefetched.get(key, -1e9) < CACHE_TTL_SECONDS - 5:
        return  # done within the cache's ttl: the results are cached (warm runs skip the threads)
    _prefetched[key] = now
    if len(_prefetched) > 2048:
        _prefetched.clear()
    calls = [lambda q=q: query(q[0], url, filters, *q[1:]) for q in queries]
    if kpi_keys:
        calls += [lambda: kpi_values(url, filters, kpi_keys), lambda: kpi_values(url, comparison_period(filters), kpi_keys)]
    calls += [function for _, function in also]
    if len(calls) < 2:
        return
    script = get_script_run_ctx()

    def run(call) -> None:
        add_script_run_ctx(threading.current_thread(), script)  # st.cache_data works as in the page
        try:
            call()
        except Exception:  # noqa: BLE001 - reported by the page's own call
            pass

    with ThreadPoolExecutor(max_workers=PREFETCH_WORKERS) as pool:
        list(pool.map(logs.in_this_context(run), calls))


@dataclass(frozen=True)
class Panel:
    """One panel's query: a name of ``QUERIES``, its arguments after the filters, and whether the
    page shows it for this database (a panel whose columns are missing is not prefetched)."""

    query: str
    args: tuple = ()
    shown: bool = True
    live: bool = False  # describes "now": in live mode read on its own with a five-second cache


class Panels:
    """A page's panels declared once: ``prefetch`` runs the shown ones at once, ``panels[name]``
    (or ``read(name, live)``) gives one's cached result. Raises ``KeyError`` for an undeclared name."""

    def __init__(self, url: str, filters: Filters, **panels: Panel) -> None:
        self.url, self.filters, self.panels = url, filters, panels

    def prefetch(self, kpi_keys: tuple[str, ...] = (), also=(), live: bool = False) -> None:
        """Run the shown panels' queries at once (in live mode not the "now" ones: they refresh
        on their own) and the tiles' KPIs (see ``prefetch``); what Prometheus answers is read
        where it is drawn."""
        from dashboard import service_metrics

        prefetch(self.url, self.filters, [(p.query, *p.args) for p in self.panels.values()
                                          if p.shown and not (live and p.live) and not service_metrics.answers(p.query)],
                 kpi_keys=tuple(k for k in kpi_keys if not service_metrics.answers(k)), also=also)

    def read(self, name: str, live: bool = False) -> pd.DataFrame:
        """The panel's frame: from Prometheus where it answers this panel (a notice in its place
        when it fails), else the cached SQL query."""
        from dashboard import service_metrics

        panel = self.panels[name]
        if service_metrics.answers(panel.query):
            return service_metrics.panel_or_notice(panel.query, self.filters, *panel.args, live=live and panel.live)
        return (fresh if live and panel.live else query)(panel.query, self.url, self.filters, *panel.args)

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.read(name)


def clear_results() -> None:
    """Forget every cached result (after the data changed under them)."""
    for cached in (_schema_for, _options_for, _kpi_values, _query, _fresh, _alert_histories, _sla_compliance,
                   _report, _alert_driver):
        cached.clear()


@dataclass(frozen=True)
class Database:
    """The database a page reads: its configuration, schema and filter options."""

    config: DatabaseConfig
    schema: Schema
    options: series.FilterOptions

    @property
    def url(self) -> str:
        return self.config.url


def open_database() -> Database | None:
    """Resolve, build (demo) and inspect the database; show a clear message and return None
    when it cannot be used."""
    config = resolve_config()
    try:
        if config.is_demo:
            from dashboard.demo_build import ensure_demo_database

            ensure_demo_database(config)
        with engine_for(config.url).connect() as conn:  # cached results must not hide an outage
            conn.exec_driver_sql("SELECT 1")
        schema = schema_for(config.url)
        if not schema.has_table("conversation_metrics"):
            st.warning(t("db.no_table"), icon=":material/table:")
            return None
        missing = schema.missing_required()
        if "conversation_metrics.timestamp" in missing:
            st.warning(t("db.missing_columns", columns="`conversation_metrics.timestamp`"))
            return None
        if missing:  # the KPIs that need these columns say "not tracked"; the rest works
            st.info(t("db.missing_columns", columns=", ".join(f"`{m}`" for m in missing)))
        options = options_for(config.url)
    except errors.DATABASE_ERRORS as error:
        show_database_error(error, config)
        return None
    def refreshed(report) -> None:
        _schema_for.clear()  # the refresh may have made tables (the first build, the rule records)
        # Hours aggregated again may hold late rows the shared results did not see; records of the
        # alert rules change no answer (they equal the raw rows), so they leave the results alone.
        if report.new_hours or report.late_hours or report.full:
            invalidate_shared(config.url)

    # The refresh writes: on the primary when the pages read a standby (DATABASE_WRITE_URL).
    refreshing = rollup_upkeep.keep_fresh(config.writes_to, engine_for(config.writes_to), on_done=refreshed)
    if refreshing == "building":
        st.info(t("rollups.building"), icon=":material/hourglass_top:")
    elif refreshing == "slow":
        st.caption(t("rollups.refreshing"))
    return Database(config, schema, options)
