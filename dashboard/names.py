"""The names people read for the intent codes in the data (``order_status`` → "Order status" /
«Статус заказа»), in both languages.

A deployment names its own intents in a YAML file (``EASYFLOW_INTENTS_FILE``, default
``intents.yml`` at the repository root): one entry per code, ``{en: …, ru: …}``, either optional.
An intent the file does not name reads as its code in words ("technical_support" → "Technical
support"). The data keeps the codes: exports and filters in the URL use them.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pandas as pd

from dashboard.i18n import current_language, t

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = ROOT / "intents.yml"
LANGUAGES = ("en", "ru")
MAX_NAME = 80
# The columns of a shown frame that hold intent codes.
INTENT_COLUMNS = ("intent", "expected_intent", "predicted_intent")


class NamesError(ValueError):
    """The intents file is not a mapping of codes to ``{en: …, ru: …}`` (the message says where)."""


def parse(text: str) -> dict[str, dict[str, str]]:
    """The names in a YAML text: code → language → name. Raises ``NamesError``."""
    import yaml

    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise NamesError(f"not YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise NamesError("expected a mapping of intent codes to names")
    names = {}
    for code, entry in raw.items():
        if not isinstance(entry, dict) or not set(entry) <= set(LANGUAGES):
            raise NamesError(f"{code!s:.40}: expected {{en: …, ru: …}}")
        for lang, name in entry.items():
            if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
                raise NamesError(f"{code!s:.40}: the {lang} name must be text of 1 to {MAX_NAME} characters")
        names[str(code)] = {lang: name.strip() for lang, name in entry.items()}
    return names


@functools.cache
def _load(path: str) -> dict[str, dict[str, str]]:
    from data_access import logs

    try:
        return parse(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, NamesError) as error:
        # The codes stand in; the file's owner reads why in the log.
        logs.get("easyflow.names").warning("intent_names_unread", problem=str(error)[:200])
        return {}


def intent_names() -> dict[str, dict[str, str]]:
    return _load(os.environ.get("EASYFLOW_INTENTS_FILE") or str(DEFAULT_FILE))


def readable(code: str) -> str:
    """A code in words: ``technical_support`` → ``Technical support``; anything but letters,
    digits, ``_`` and ``-`` is no code and stays as it is."""
    import re

    code = str(code)
    if not re.fullmatch(r"[A-Za-z0-9_-]+", code):
        return code
    words = code.replace("_", " ").replace("-", " ").split()
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]]) if words else code


PLACEHOLDERS = {"(none)": "value.none", "(all)": "value.all", "unknown": "value.unknown", "other": "value.other"}


def shown_value(value, lang: str | None = None):
    """The placeholders the queries use for missing groups, in ``lang``; other values as they are."""
    return t(PLACEHOLDERS[value], lang) if isinstance(value, str) and value in PLACEHOLDERS else value


def intent(code, lang: str | None = None) -> str:
    """The name of an intent code in ``lang`` (default: the session's), else English, else the
    code in words; a placeholder of the queries ("unknown", "(none)") as ``shown_value`` says it."""
    if code is None or (isinstance(code, float) and pd.isna(code)):
        return code
    shown = shown_value(code, lang)
    if shown != code:
        return shown
    entry = intent_names().get(str(code), {})
    return entry.get(lang or current_language()) or entry.get("en") or readable(code)


def with_intent_names(frame: pd.DataFrame, lang: str | None = None) -> pd.DataFrame:
    """``frame`` with its intent columns (``INTENT_COLUMNS``) holding names instead of codes."""
    columns = [c for c in INTENT_COLUMNS if c in frame]
    if not columns or frame.empty:
        return frame
    return frame.assign(**{c: [intent(v, lang) for v in frame[c]] for c in columns})
