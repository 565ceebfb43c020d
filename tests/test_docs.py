"""The documentation says what the code does: the contract's labels, the README's pages."""

from __future__ import annotations

import re
from pathlib import Path

from data_access.kpis import KPIS

ROOT = Path(__file__).resolve().parent.parent


def test_contract_copy_lists_exactly_the_kpis_the_code_defines_with_their_meaning():
    text = (ROOT / "docs" / "contract.md").read_text()
    rows = []
    for table in text.split("| label | meaning (the tile's help) | definition |")[1:]:
        rows += re.findall(r"^\| ([^|]+?) \| ([^|]+?) \|", table.split("\n\n")[0], flags=re.M)
    rows = sorted(row for row in rows if not row[0].startswith("---"))
    assert rows == sorted((k.label, k.meaning) for k in KPIS.values())


def test_readme_lists_every_page():
    readme = (ROOT / "README.md").read_text()
    app = (ROOT / "dashboard" / "app.py").read_text()
    for name in re.findall(r'\("(\w+)\.py", "page\.', app):
        assert (ROOT / "pages" / f"{name}.py").is_file()
        path = "/" if name == "overview" else f"/{name}"
        assert f"`{path}`" in readme, name
