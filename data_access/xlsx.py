"""A streaming XLSX writer: rows go straight into the zipped sheet XML, in constant memory.

Why our own: the export must be several times faster than pandas ``to_excel``; openpyxl's
write-only mode (1.2x) and XlsxWriter's constant-memory mode (3.8x) spend their time building a
cell object per value. XLSX is a zip of a few XML files; a sheet is rows of cells, so writing
that XML directly is short, and openpyxl (in the tests) and Excel read it.

Cells: text as inline strings (never formulas), numbers, booleans, datetimes (naive, as Excel
serial numbers with a date format), ``Decimal`` money with four decimals, ``Number`` (a value with
one of ``NUMBER_STYLES``' formats); None leaves the cell out.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import IO, NamedTuple
from xml.sax.saxutils import escape

EXCEL_EPOCH = datetime(1899, 12, 30)
# Characters XML 1.0 cannot hold (control characters other than tab, newline, carriage return).
ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
STYLE_HEADER, STYLE_DATETIME, STYLE_MONEY, STYLE_DATE = 1, 2, 3, 4
# Number formats a cell can ask for by name (``Number``): the cell style index of each.
NUMBER_STYLES = {"count": 5, "percent": 6, "decimal": 7, "seconds": 8, "usd": 9, "signed": 10, "duration": 11,
                 "signed_percent": 12, "signed_pp": 13, "signed_pp_ru": 14, "signed_decimal": 15, "percent_near_100": 16}


class Number(NamedTuple):
    """A number with a named format (``NUMBER_STYLES``): ``percent`` takes a fraction (0.812 shows
    81.2 %), ``duration`` days (Excel's time: 1/24 is an hour)."""

    value: float
    style: str

# Number formats beyond Excel's built-in ones (id → format code), and the cell styles (their
# index is what a cell's ``s`` names): a built-in or custom format id each, 0 for none.
CUSTOM_FORMATS = {164: "yyyy-mm-dd hh:mm:ss", 165: "0.0000", 166: "yyyy-mm-dd", 167: "0.0%", 168: '0.00" s"',
                  169: '"$"#,##0.00', 170: "+0;-0;0", 171: "+0.0%;-0.0%;0.0%", 172: '+0.0" pp";-0.0" pp";0.0" pp"',
                  173: '+0.0" п.п.";-0.0" п.п.";0.0" п.п."', 174: "+0.00;-0.00;0.00",
                  175: "0.00%"}
_CELL_FORMATS = [0, 0, 164, 165, 166, 3, 167, 4, 168, 169, 170, 46, 171, 172, 173, 174, 175]  # style 1: bold header


def _styles() -> str:
    formats = "".join(f'<numFmt numFmtId="{i}" formatCode="{escape(code, {chr(34): "&quot;"})}"/>'
                      for i, code in CUSTOM_FORMATS.items())
    cells = "".join(
        '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>' if index == STYLE_HEADER else
        f'<xf numFmtId="{number}" fontId="0" fillId="0" borderId="0" xfId="0"'
        + (' applyNumberFormat="1"/>' if number else "/>")
        for index, number in enumerate(_CELL_FORMATS))
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">
<numFmts count="{len(CUSTOM_FORMATS)}">{formats}</numFmts>
<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/></font></fonts>
<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>
<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>
<cellXfs count="{len(_CELL_FORMATS)}">{cells}</cellXfs>
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>
</styleSheet>"""


STYLES = _styles()


def column_letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def excel_serial(value: datetime | date) -> float:
    """Days since Excel's epoch (1899-12-30), the fraction being the time of day."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    delta = value - EXCEL_EPOCH
    return delta.days + (delta.seconds + delta.microseconds / 1e6) / 86400.0


def _columns(widths: Sequence[float]) -> str:
    if not widths:
        return ""
    return "<cols>" + "".join(f'<col min="{i}" max="{i}" width="{float(w)!r}" customWidth="1"/>'
                              for i, w in enumerate(widths, start=1)) + "</cols>"


class StreamingXlsx:
    """Write sheets one after another: ``start_sheet(name, header)``, ``write_row(values)`` …,
    then ``close()``. ``money`` names column positions written with four decimals."""

    def __init__(self, out: IO[bytes], compresslevel: int = 1) -> None:
        self.zip = zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel)
        self.sheets: list[str] = []
        self._stream = None
        self._row = 0
        self._letters: list[str] = []
        self._money: set[int] = set()

    def start_sheet(self, name: str, header: Sequence[str] | None = None, money: Sequence[int] = (),
                    freeze_header: bool = True, widths: Sequence[float] = ()) -> None:
        """Begin a sheet (``widths``: column widths in characters, from the first column)."""
        self._end_sheet()
        self.sheets.append(ILLEGAL_XML.sub("", name))
        self._stream = self.zip.open(f"xl/worksheets/sheet{len(self.sheets)}.xml", "w", force_zip64=True)
        pane = ('<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" '
                'state="frozen"/></sheetView></sheetViews>') if header and freeze_header else ""
        self._write('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet '
                    'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                    f"{pane}{_columns(widths)}<sheetData>")
        self._row = 0
        self._letters = []
        self._money = set(money)
        if header:
            self.write_row(header, style=STYLE_HEADER)

    def write_row(self, values: Sequence, style: int = 0) -> None:
        self._row += 1
        row = self._row
        if len(self._letters) < len(values):
            self._letters = [column_letter(i) for i in range(len(values))]
        cells = []
        for i, value in enumerate(values):
            if value is None:
                continue
            ref = f"{self._letters[i]}{row}"
            if isinstance(value, Number):
                number = float(value.value)
                if number == number and number not in (float("inf"), float("-inf")):
                    cells.append(f'<c r="{ref}" s="{NUMBER_STYLES[value.style]}"><v>{number!r}</v></c>')
                continue
            s = f' s="{style}"' if style else ""
            if isinstance(value, str):
                # A carriage return as a character reference: XML readers turn a literal one into "\n".
                text = escape(ILLEGAL_XML.sub("", value)).replace("\r", "&#13;")
                space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
                cells.append(f'<c r="{ref}"{s} t="inlineStr"><is><t{space}>{text}</t></is></c>')
            elif isinstance(value, bool):
                cells.append(f'<c r="{ref}"{s} t="b"><v>{int(value)}</v></c>')
            elif isinstance(value, datetime):
                cells.append(f'<c r="{ref}" s="{STYLE_DATETIME}"><v>{excel_serial(value)!r}</v></c>')
            elif isinstance(value, date):
                cells.append(f'<c r="{ref}" s="{STYLE_DATE}"><v>{excel_serial(value)!r}</v></c>')
            elif isinstance(value, Decimal):
                cells.append(f'<c r="{ref}" s="{STYLE_MONEY if i in self._money else style}"><v>{value}</v></c>')
            elif isinstance(value, float):
                if value != value or value in (float("inf"), float("-inf")):
                    continue  # Excel has no NaN or infinity: the cell stays empty
                cells.append(f'<c r="{ref}"{s}><v>{value!r}</v></c>')
            else:
                cells.append(f'<c r="{ref}"{s}><v>{value}</v></c>')
        self._write(f'<row r="{row}">{"".join(cells)}</row>')

    def _write(self, text: str) -> None:
        self._stream.write(text.encode("utf-8"))

    def _end_sheet(self) -> None:
        if self._stream is not None:
            self._write("</sheetData></worksheet>")
            self._stream.close()
            self._stream = None

    def close(self) -> None:
        """Finish the last sheet and write the workbook's parts."""
        self._end_sheet()
        n = len(self.sheets)
        self.zip.writestr("[Content_Types].xml", (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Types '
            'xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/styles.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            + "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
                      'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                      for i in range(1, n + 1)) + "</Types>"))
        self.zip.writestr("_rels/.rels", (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships '
            'xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" '
            'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
            'Target="xl/workbook.xml"/></Relationships>'))
        self.zip.writestr("xl/workbook.xml", (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook '
            'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
            + "".join(f'<sheet name="{escape(name)}" sheetId="{i}" r:id="rId{i}"/>'
                      for i, name in enumerate(self.sheets, start=1)) + "</sheets></workbook>"))
        self.zip.writestr("xl/_rels/workbook.xml.rels", (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships '
            'xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            + "".join(f'<Relationship Id="rId{i}" '
                      'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
                      f'Target="worksheets/sheet{i}.xml"/>' for i in range(1, n + 1))
            + f'<Relationship Id="rId{n + 1}" '
            'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" '
            'Target="styles.xml"/></Relationships>'))
        self.zip.writestr("xl/styles.xml", STYLES)
        self.zip.close()
