"""The documentation says what the code does: the contract's labels, the README's pages."""

from __future__ import annotations

import re
from pathlib import Path

from data_access.kpis import KPIS

ROOT = Path(__file__).resolve().parent.parent


def test_contract_copy_lists_exactly_the_kpis_the_code_defines():
    text = (ROOT / "docs" / "contract.md").read_text()
    labels = []
    for table in text.split("| label | definition |")[1:]:
        labels += re.findall(r"^\| ([^|]+?) \|", table.split("\n\n")[0], flags=re.M)
    assert sorted(label for label in labels if not label.startswith("---")) == sorted(k.label for k in KPIS.values())


def test_readme_lists_every_page():
    readme = (ROOT / "README.md").read_text()
    app = (ROOT / "dashboard" / "app.py").read_text()
    for name in re.findall(r'\("(\w+)\.py", "page\.', app):
        assert (ROOT / "pages" / f"{name}.py").is_file()
        path = "/" if name == "overview" else f"/{name}"
        assert f"`{path}`" in readme, name
