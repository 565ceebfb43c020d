"""Formatting, configuration resolution and the translation catalogue, without a database."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from dashboard import format as fmt
from dashboard.i18n import EN, t
from data_access.engine import DatabaseConfig, resolve_config

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("value, unit, text", [
    (None, "percent", "—"), (0, "count", "0"), (12345, "count", "12,345"), (81.234, "percent", "81.2 %"),
    (99.954, "percent", "99.95 %"), (100.0, "percent", "100.0 %"), (4.016, "rating", "4.02 / 5"),
    (845.4, "ms", "845 ms"), (1840, "ms", "1.84 s"), (252_000, "ms", "4 min 12 s"), (45, "seconds", "45 s"),
    (3 * 3600 + 300, "seconds", "3 h 05 min"), (3 * 86400 + 7200, "seconds", "3 d 02 h"),
    (Decimal("1234.5650"), "money", "$1,234.57"), (Decimal("0.0049"), "money", "$0.00"),
    (2.5, "rps", "2.5"), (1234.4, "rps", "1,234"), (19.6, "nps", "+20"), (-4.2, "nps", "-4"), (0.2, "nps", "0"),
])
def test_kpi_value(value, unit, text):
    assert fmt.kpi_value(value, unit) == text


@pytest.mark.parametrize("current, previous, unit, text", [
    (72.5, 70.0, "percent", "+2.5 pp"), (70.0, 72.5, "percent", "-2.5 pp"), (99.95, 99.99, "percent", "-0.04 pp"),
    (50.0, 50.01, "percent", "0.0 pp"), (20, 34, "nps", "-14 pts"), (110, 100, "count", "+10.0 %"),
    (5, 0, "count", None), (None, 3, "count", None), (3, None, "count", None), (4.1, 4.0, "rating", "+0.10"),
    (Decimal("2.00"), Decimal("1.00"), "money", "+100.0 %"),
])
def test_kpi_delta(current, previous, unit, text):
    assert fmt.kpi_delta(current, previous, unit) == text


def test_unchanged_delta_has_no_sign():
    assert fmt.is_unchanged("0.0 pp") and not fmt.is_unchanged("+0.1 pp") and not fmt.is_unchanged(None)


def test_config_order(monkeypatch, tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[connections.metrics]\nurl = "postgresql://from-secrets/db"\n')
    monkeypatch.setenv("DATABASE_URL", "postgresql://from-env/db")
    assert resolve_config(secrets) == DatabaseConfig("postgresql://from-env/db", "env")
    monkeypatch.delenv("DATABASE_URL")
    assert resolve_config(secrets) == DatabaseConfig("postgresql://from-secrets/db", "secrets")
    monkeypatch.setenv("EASYFLOW_DEMO_DB", str(tmp_path / "x.sqlite"))
    assert resolve_config(tmp_path / "missing.toml") == DatabaseConfig(f"sqlite:///{tmp_path / 'x.sqlite'}", "demo")
    secrets.write_text("this is [not toml")
    assert resolve_config(secrets).is_demo


def test_safe_url_hides_the_password():
    assert "hunter2" not in DatabaseConfig("postgresql://u:hunter2@h/db", "env").safe_url()
    assert "hunter2" not in DatabaseConfig("::: hunter2", "env").safe_url()


def test_every_translation_key_used_in_the_code_exists():
    used = set()
    for path in list((ROOT / "dashboard").glob("*.py")) + list((ROOT / "pages").glob("*.py")):
        used |= set(re.findall(r'\bt\(\s*"([a-z0-9_.]+)"', path.read_text()))
    assert used and not used - set(EN), used - set(EN)


def test_t_formats_and_fails_on_unknown_keys():
    assert t("filters.summary", start="a", end="b", tz="UTC") == "a – b (UTC)"
    assert t("kpi.csat.label") == "CSAT"
    with pytest.raises(KeyError):
        t("no.such.key")


def test_every_kpi_says_what_its_n_counts():
    from dashboard.tiles import N_UNITS
    from data_access.kpis import KPIS

    assert set(N_UNITS) == set(KPIS)
    from dashboard.i18n import PLURALS_EN

    assert all(f"kpi.n.{unit}" in PLURALS_EN for unit in N_UNITS.values())


def test_a_delta_on_too_few_observations_says_so():
    from data_access.kpis import KpiValue
    from dashboard.tiles import MIN_COMPARED, too_few_to_compare

    small, large = KpiValue("nps", 31.0, n=12), KpiValue("nps", 5.0, n=MIN_COMPARED)
    assert too_few_to_compare("nps", small, large) and too_few_to_compare("csat", large, small)
    assert not too_few_to_compare("nps", large, KpiValue("nps", 5.0, n=500))
    assert not too_few_to_compare("messages", small, large)  # a count is not a sample
    assert not too_few_to_compare("nps", small, None)
    # A gauge read at a few instants (CPU from Prometheus: n counts readings) is no sampled estimate.
    assert not too_few_to_compare("cpu", KpiValue("cpu", 61.0, n=2), KpiValue("cpu", 40.0, n=2))
