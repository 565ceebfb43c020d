"""Where the Operational and SLA pages' service metrics come from: a Prometheus server when one
is configured (``PROMETHEUS_URL`` or ``[prometheus] url`` in the secrets; data_access.prometheus),
the tables otherwise. Results are cached like the tables' (a minute; five seconds for the "now"
panels of live mode); a failed query is not cached, so a panel recovers by itself."""

from __future__ import annotations

import os

import pandas as pd
import streamlit as st

from data_access import prometheus
from data_access.filters import Filters

# The panels and tiles Prometheus answers (the same names as the tables' queries and KPIs).
PANELS = {"traffic": prometheus.traffic, "errors_over_time": prometheus.errors_over_time,
          "resources": prometheus.resources, "active_sessions_over_time": prometheus.active_sessions_over_time,
          "service_status": prometheus.service_status, "status_intervals": prometheus.status_intervals}
KPI_KEYS = frozenset({"avg_rps", "peak_rps", "error_rate", "uptime", "active_sessions", "cpu", "memory", "disk"})
CACHE_SECONDS, LIVE_CACHE_SECONDS = 60, 5


def config() -> prometheus.PrometheusConfig | None:
    """The configured Prometheus, or None (the tables then). Raises ``ValueError`` for a
    configuration that cannot be used (the page says so)."""
    names = ("PROMETHEUS_URL", "PROMETHEUS_SERVICE_LABEL", "PROMETHEUS_TOKEN", "EASYFLOW_SECRETS_FILE")
    return _config(tuple(os.environ.get(name, "") for name in names))


@st.cache_resource(show_spinner=False, max_entries=8)
def _config(environment: tuple[str, ...]) -> prometheus.PrometheusConfig | None:
    """Read once per set of settings (the secrets file is read then too)."""
    from data_access.engine import read_secrets

    names = ("PROMETHEUS_URL", "PROMETHEUS_SERVICE_LABEL", "PROMETHEUS_TOKEN")
    return prometheus.config_from(read_secrets(), {k: v for k, v in zip(names, environment) if v})


@st.cache_resource(show_spinner=False, max_entries=8)
def client(config: prometheus.PrometheusConfig) -> prometheus.Prometheus:
    return prometheus.Prometheus(config)


def answers(name: str) -> bool:
    """Whether the panel or tile ``name`` reads Prometheus in this process."""
    return (name in PANELS or name in KPI_KEYS) and _configured() is not None


def _configured() -> prometheus.PrometheusConfig | None:
    try:
        return config()
    except ValueError:
        return None


def query(name: str, filters: Filters, *args, live: bool = False) -> pd.DataFrame:
    """Panel ``name`` from Prometheus. Raises ``prometheus.PrometheusError`` when it does not answer."""
    reader = _live if live else _cached
    return reader(_configured(), name, filters, *args)


@st.cache_data(ttl=CACHE_SECONDS, max_entries=256, show_spinner=False)
def _cached(config: prometheus.PrometheusConfig, name: str, filters: Filters, *args) -> pd.DataFrame:
    return PANELS[name](client(config), filters, *args)


@st.cache_data(ttl=LIVE_CACHE_SECONDS, max_entries=64, show_spinner=False)
def _live(config: prometheus.PrometheusConfig, name: str, filters: Filters, *args) -> pd.DataFrame:
    return PANELS[name](client(config), filters, *args)


@st.cache_data(ttl=CACHE_SECONDS, max_entries=256, show_spinner=False)
def kpi_values(config: prometheus.PrometheusConfig, filters: Filters, keys: tuple[str, ...]) -> dict:
    """The tiles ``keys`` from Prometheus (``prometheus.kpis``). Raises ``PrometheusError``."""
    return prometheus.kpis(client(config), filters, keys)


def kpis_or_notice(filters: Filters, keys: tuple[str, ...]) -> dict:
    """The tiles ``keys`` from Prometheus; where it does not answer, a notice and no values."""
    from data_access.kpis import NO_DATA, KpiValue
    from dashboard.i18n import t

    try:
        return kpi_values(_configured(), filters, keys)
    except prometheus.PrometheusError as error:
        st.warning(t("prom.failed", problem=t(f"prom.error.{type(error).__name__}")), icon=":material/cloud_off:")
        return {key: KpiValue(key, None, reason=NO_DATA) for key in keys}


def answers_sla() -> bool:
    """Whether the SLA page's service uptime reads Prometheus."""
    return _configured() is not None


@st.cache_data(ttl=CACHE_SECONDS, max_entries=64, show_spinner=False)
def _sla(config: prometheus.PrometheusConfig, filters: Filters, targets, by_month: bool) -> pd.DataFrame:
    from data_access import sla

    return sla.compliance_from_checks(prometheus.sla_checks(client(config), filters, by_month=by_month),
                                      filters, targets, by_month)


def sla_or_notice(filters: Filters, targets, by_month: bool) -> pd.DataFrame:
    """The services' SLA compliance from Prometheus's ``up``; a notice and an empty frame where
    it does not answer."""
    from dashboard.i18n import t

    try:
        return _sla(_configured(), filters, targets, by_month)
    except prometheus.PrometheusError as error:
        st.warning(t("prom.failed", problem=t(f"prom.error.{type(error).__name__}")), icon=":material/cloud_off:")
        return pd.DataFrame()


def source_caption() -> str | None:
    """What the page says about its source when Prometheus is configured (no address: the
    visitor needs to know which system answered, not where it runs); None for the tables."""
    from dashboard.i18n import t

    from dashboard.format import md_text

    try:
        configured = config()
    except ValueError as error:
        return t("prom.config_error", problem=md_text(str(error)))
    return t("prom.source") if configured is not None else None


# The columns of each panel's frame, for the empty frame a failed query leaves behind.
COLUMNS = {"traffic": ["bucket", "service", "requests", "errors", "samples", "rps", "error_rate"],
           "errors_over_time": ["bucket", "error_type", "events"],
           "resources": ["bucket", "service", "cpu", "memory", "disk"],
           "active_sessions_over_time": ["bucket", "mean_sessions", "peak_sessions"],
           "service_status": ["service", "status", "last_check", "since", "whole_range", "latency_ms", "ok", "known",
                              "uptime"],
           "status_intervals": ["service", "status", "started", "ended", "checks", "seconds"]}


def panel_or_notice(name: str, filters: Filters, *args, live: bool = False) -> pd.DataFrame:
    """Panel ``name`` from Prometheus; where Prometheus does not answer, a one-line notice in
    the panel's place and an empty frame (the other panels go on; the next run asks again)."""
    from dashboard.i18n import t

    try:
        return query(name, filters, *args, live=live)
    except prometheus.PrometheusError as error:
        st.warning(t("prom.failed", problem=t(f"prom.error.{type(error).__name__}")), icon=":material/cloud_off:")
        return pd.DataFrame(columns=COLUMNS[name])
