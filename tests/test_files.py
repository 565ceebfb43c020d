"""The download route's bookkeeping (dashboard/files.py): tokens that work once and expire, a
bounded store, and file names that survive any characters. The route itself, with real browsers,
identities and sessions, is tests/browser/test_sign_in.py and tests/browser/test_limits.py."""

from __future__ import annotations

import io

from dashboard import auth, files


def _offer(expires_in: float = 60, **changes) -> files.Offer:
    import time

    fields = dict(make=files.of_bytes(lambda: b"a,b\n"), filename="t.csv", mime="text/csv", event="table_download",
                  action=None, principal=auth.Principal("a@example.com", "analyst", "oidc"),
                  settings=auth.AuthSettings("oidc"), session="s", where={"client": "127.0.0.1"},
                  expires=time.monotonic() + expires_in)
    return files.Offer(**{**fields, **changes})


def test_a_token_works_once_and_not_after_it_expires():
    token = files.offer(_offer())
    assert len(token) >= 40 and files.claim(token) is not None
    assert files.claim(token) is None  # used
    assert files.claim(files.offer(_offer(expires_in=-1))) is None  # expired
    assert files.claim("not-a-token") is None


def test_the_store_is_bounded(monkeypatch):
    monkeypatch.setattr(files, "MAX_OFFERS", 5)
    tokens = [files.offer(_offer()) for _ in range(8)]
    assert len(files._offers) <= 5
    assert files.claim(tokens[0]) is None and files.claim(tokens[-1]) is not None  # the oldest went first


def test_a_made_file_and_its_name_for_any_characters():
    out = io.BytesIO()
    assert _offer().make(out) == {} and out.getvalue() == b"a,b\n"
    header = files._disposition('отчёт "weekly"\r\n.csv')
    assert header.startswith('attachment; filename="') and "\r" not in header and "\n" not in header
    assert "filename*=UTF-8''%D0%BE%D1%82%D1%87%D1%91%D1%82%20%22weekly%22%0D%0A.csv" in header
    assert '"weekly"' not in header.split(";")[1]  # quotes in the ASCII name are replaced


def test_the_tables_own_toolbar_download_is_off():
    """Streamlit's table toolbar wrote its own CSV (formulas and lone CRs unescaped, not audited)
    beside the dashboard's safe download on every table."""
    import tomllib
    from pathlib import Path

    config = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text())
    assert config["client"]["disableDataExport"] is True
    assert config["server"]["address"] == "127.0.0.1"  # the open demo, and proxy mode, on loopback only
