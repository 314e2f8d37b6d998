"""FAQ tables: .jsonl (one JSON object a line), .csv and .xlsx (a header row naming the columns)."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sync.errors import ParseError
from sync.faq import entries_from_records, header_field
from sync.limits import check_zip, count_rows
from sync.parsers.base import Parsed, Parser, read_text

REQUIRED = ("question", "answer")
EXPECTED_HEADERS = "question/问题, answer/答案, optional similar/相似问题 and id"


def parse_jsonl(path: Path) -> Parsed:
    def records() -> Iterator[tuple[str, dict[str, Any]]]:
        for number, line in enumerate(read_text(path).split("\n"), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ParseError(path.name, f"line {number} is not valid JSON ({exc.msg})") from exc
            if not isinstance(obj, dict):
                raise ParseError(path.name, f"line {number} is not a JSON object")
            yield f"line {number}", {f: v for k, v in obj.items() if (f := header_field(k))}

    return Parsed(entries=entries_from_records(count_rows(path.name, records()), path.name))


def _columns(header: Sequence[Any]) -> dict[int, str] | None:
    """Column index → field; None when this row is not a FAQ header."""
    columns: dict[int, str] = {}
    for index, name in enumerate(header):
        field = header_field(name)
        if field and field not in columns.values():
            columns[index] = field
    if not all(f in columns.values() for f in REQUIRED):
        return None
    return columns


def _records(rows: Iterable[tuple[int, Sequence[Any]]], columns: dict[int, str],
             label: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for number, row in rows:
        yield f"{label}row {number}", {f: row[i] for i, f in columns.items() if i < len(row)}


def _first_nonblank(rows: Iterator[tuple[int, Sequence[Any]]]) -> tuple[int, Sequence[Any]] | None:
    for number, row in rows:
        if any(cell is not None and str(cell).strip() for cell in row):
            return number, row
    return None


def parse_csv(path: Path) -> Parsed:
    text = read_text(path)
    try:
        rows = enumerate(csv.reader(io.StringIO(text)), start=1)
        first = _first_nonblank(rows)
        if first is None:
            return Parsed()
        columns = _columns(first[1])
        if columns is None:
            raise ParseError(path.name, f"header row {list(first[1])} lacks the columns {EXPECTED_HEADERS}")
        entries = entries_from_records(count_rows(path.name, _records(rows, columns, "")), path.name)
    except csv.Error as exc:
        raise ParseError(path.name, f"bad CSV ({exc})") from exc
    return Parsed(entries=entries)


def parse_xlsx(path: Path) -> Parsed:
    if not zipfile.is_zipfile(path):
        raise ParseError(path.name, "not a valid .xlsx (it is not a zip package); old .xls files are not supported, "
                                    "save as .xlsx or .csv")
    check_zip(path)
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except MemoryError:
        raise
    except Exception as exc:  # openpyxl raises many kinds of errors on damaged packages
        raise ParseError(path.name, f"broken .xlsx ({type(exc).__name__}: {exc})") from exc
    try:
        records: list[tuple[str, dict[str, Any]]] = []
        bounded = count_rows(path.name, _forever())  # one row budget shared by every sheet
        found_header = False
        many = len(workbook.worksheets) > 1
        for sheet in workbook.worksheets:
            rows = enumerate(sheet.iter_rows(values_only=True), start=1)
            first = _first_nonblank(rows)
            if first is None:
                continue
            columns = _columns(first[1])
            if columns is None:
                continue  # a sheet of notes or instructions next to the FAQ sheet
            found_header = True
            label = f"sheet {sheet.title!r} " if many else ""
            for record in _records(rows, columns, label):
                next(bounded)
                records.append(record)
    finally:
        workbook.close()
    if not found_header:
        raise ParseError(path.name, f"no sheet has a header row with the columns {EXPECTED_HEADERS}")
    return Parsed(entries=entries_from_records(records, path.name))


def _forever() -> Iterator[None]:
    while True:
        yield None


JSONL = Parser(".jsonl", "faq", parse_jsonl, faq=True)
CSV = Parser(".csv", "faq", parse_csv, faq=True)
XLSX = Parser(".xlsx", "faq", parse_xlsx, faq=True)
