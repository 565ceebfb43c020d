"""The streaming XLSX writer, read back with openpyxl."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from data_access.xlsx import StreamingXlsx, column_letter, excel_serial


@pytest.mark.parametrize("index, letters", [(0, "A"), (25, "Z"), (26, "AA"), (51, "AZ"), (52, "BA"), (16383, "XFD")])
def test_column_letter(index, letters):
    assert column_letter(index) == letters


def test_excel_serial():
    assert excel_serial(datetime(1900, 1, 1)) == 2.0
    assert excel_serial(datetime(2026, 11, 1, 12)) == pytest.approx(46327.5)


def test_round_trip_of_every_kind_of_value():
    buffer = io.BytesIO()
    book = StreamingXlsx(buffer)
    book.start_sheet("data", ["text", "number", "money", "when", "day", "flag", "empty"], money=[2])
    rows = [["=1+2", 42, Decimal("0.0123"), datetime(2026, 11, 1, 10, 0, 30, 250000), date(2026, 11, 2), True, None],
            ["  spaced <&> \"q\" ", -1.5, Decimal("12.5000"), datetime(1999, 12, 31, 23, 59, 59), date(2000, 1, 1),
             False, None],
            ["bell\x07 and nul\x00 removed", float("nan"), None, None, None, None, None]]
    for row in rows:
        book.write_row(row)
    book.start_sheet("second")
    book.write_row(["Привет 😡", 1])
    book.close()
    wb = load_workbook(io.BytesIO(buffer.getvalue()))
    assert wb.sheetnames == ["data", "second"]
    read = list(wb["data"].iter_rows(values_only=True))
    assert read[0] == ("text", "number", "money", "when", "day", "flag", "empty")
    assert read[1] == ("=1+2", 42, 0.0123, datetime(2026, 11, 1, 10, 0, 30, 250000), datetime(2026, 11, 2), True, None)
    assert read[2] == ("  spaced <&> \"q\" ", -1.5, 12.5, datetime(1999, 12, 31, 23, 59, 59), datetime(2000, 1, 1),
                       False, None)
    assert read[3][:2] == ("bell and nul removed", None)
    assert wb["data"]["A2"].data_type == "s" and wb["data"]["C2"].number_format == "0.0000"
    assert wb["data"].freeze_panes == "A2"
    assert list(wb["second"].iter_rows(values_only=True)) == [("Привет 😡", 1)]
