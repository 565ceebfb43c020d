"""The one way the project writes text cells that a spreadsheet will open: CSV rows here, XLSX
cells in ``data_access.xlsx`` (inline strings, never formulas).

CSV (RFC 4180): a cell holding the delimiter, a quote, ``\\r`` or ``\\n`` is quoted, rows end in
``\\r\\n``, and a text that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
``@``, tab or carriage return; OWASP, CWE-1236) gets a leading ``'``. Numbers stay numbers.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from typing import IO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> tuple[str, bool]:
    """``text`` made safe for a spreadsheet: a leading ``'`` when it would start a formula.
    Returns the text and whether it was changed."""
    if text.startswith(FORMULA_STARTS):
        return "'" + text, True
    return text, False


def is_formula_like(text: str) -> bool:
    return text.startswith(FORMULA_STARTS)


class CsvWriter:
    """Rows of values to ``out`` (a text stream opened with ``newline=""``) as RFC 4180 CSV;
    ``neutralised`` counts the text cells that got a ``'``. ``None`` is an empty field, other
    non-text values are written as ``str()`` gives them (callers format dates and booleans)."""

    def __init__(self, out: IO[str]) -> None:
        # "\r\n" as the row end also makes the csv module quote every cell holding "\r" or "\n".
        self._writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        self.neutralised = 0

    def header(self, names: Sequence[str]) -> None:
        self.row(names)

    def row(self, values: Iterable) -> None:
        cells = []
        for value in values:
            if value is None:
                cells.append("")
            elif isinstance(value, str):
                text, changed = neutralise(value)
                self.neutralised += changed
                cells.append(text)
            else:
                cells.append(value)
        self._writer.writerow(cells)


# Put before a CSV meant for Excel (the dashboard's downloads): Excel then reads UTF-8, Cyrillic
# included. Command-line output has none.
UTF8_BOM = b"\xef\xbb\xbf"


def frame_to_csv(frame) -> bytes:
    """A pandas DataFrame (its index left out) as UTF-8 CSV bytes through ``CsvWriter``; missing
    values are empty fields."""
    import io

    import pandas as pd

    out = io.StringIO(newline="")
    writer = CsvWriter(out)
    writer.header([str(c) for c in frame.columns])
    for row in frame.itertuples(index=False, name=None):
        writer.row(None if pd.api.types.is_scalar(v) and not isinstance(v, str) and pd.isna(v) else v for v in row)
    return out.getvalue().encode("utf-8")
