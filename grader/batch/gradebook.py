"""``grades.csv``: one row per student, safe to open in a spreadsheet.

A cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return) is a formula to
Excel, LibreOffice and Google Sheets; a student's name or file name could then run one on the
TA's machine ("CSV injection").  Text cells from student data get a leading apostrophe, the
convention spreadsheets show as plain text; numbers we computed are written as numbers.

A spreadsheet also turns text that looks like a number or a date into one: the student ID
``00123`` becomes 123, ``1234567890123456789`` loses its last digits, ``1E5`` becomes 100000
and ``3-4`` the 4th of March.  The identity columns (name, ID, e-mail, key) hold such values
as the text formula ``="00123"``, which every spreadsheet shows as the text 00123; every other
value stays as it is (``spreadsheet_text``).
"""
from __future__ import annotations

import csv
import io
import re
from typing import List, Sequence

from grader.batch.outcome import StudentResult
from grader.exercises.default import HELLO_WORLD, ROLES, Exercise
from grader.report.safe_text import markup_text

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def safe_cell(value: object) -> str:
    """Text that a spreadsheet shows as text, never evaluates (and without the NUL or escape
    codes a student's name or output may hold, which break CSV readers)."""
    text = markup_text(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


# What Excel, LibreOffice and Google Sheets read as a number, a date or a time when a cell holds
# only it: digits with signs, separators, exponents, currency, percent or parentheses; a month
# name beside digits (``Jan-5``, ``5 March``); TRUE/FALSE.
_NUMBER_LIKE = re.compile(r"[\s$%()+\-.,:/\d]*\d[\s$%()+\-.,:/\deE]*")
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_DATE_WITH_MONTH = re.compile(
    rf"\d{{1,4}}[\s\-/.,]*{_MONTH}(?:[\s\-/.,]+\d{{1,4}})?|{_MONTH}[\s\-/.,]*\d{{1,4}}(?:[\s\-/.,]+\d{{1,4}})?",
    re.IGNORECASE)
# A whole number a spreadsheet shows exactly as written: no leading zero, at most 11 digits
# (Excel's General format shows 12 digits or more as 1.23457E+11, and keeps only 15).
_KEPT_AS_WRITTEN = re.compile(r"0|[1-9]\d{0,10}")
_LITERAL_LIMIT = 255  # Excel's longest text constant in a formula


def spreadsheet_text(value: object) -> str:
    """An identity cell (a name, an ID) a spreadsheet shows as the exact text, never changed
    into a number or a date, and never a formula of the student's: a value a spreadsheet would
    change becomes the text formula ``="..."`` (its quotes doubled, so nothing can end the text
    early); anything else is ``safe_cell``."""
    text = markup_text(value)
    if _spreadsheet_changes(text) and len(text) <= _LITERAL_LIMIT:
        return text_formula(text)
    return safe_cell(text)


def text_formula(text: str) -> str:
    """The formula whose value is ``text``: a string constant, its quotes doubled, so whatever
    ``text`` holds it stays inside the constant."""
    return '="' + text.replace('"', '""') + '"'


def _spreadsheet_changes(text: str) -> bool:
    stripped = text.strip()
    if _KEPT_AS_WRITTEN.fullmatch(text):
        return False
    return bool(_NUMBER_LIKE.fullmatch(stripped) or _DATE_WITH_MONTH.fullmatch(stripped)
                or stripped.upper() in ("TRUE", "FALSE"))


def _number(value: float) -> str:
    return f"{value:g}"


def check_ids(exercise: Exercise = HELLO_WORLD) -> List[str]:
    return [spec.id for role in ROLES for spec in exercise.specs(role)]


def header(exercise: Exercise = HELLO_WORLD) -> List[str]:
    return (["student", "sid", "email", "key"] + [f"{r}_score" for r in ROLES]
            + ["total", "max", "status", "late"] + check_ids(exercise) + ["reason", "ungraded_files"])


def rows(results: Sequence[StudentResult], exercise: Exercise = HELLO_WORLD) -> List[List[str]]:
    """The CSV rows (header first); a group submission gives one row per member."""
    out = [header(exercise)]
    ids = check_ids(exercise)
    for result in results:
        points = {}
        for role in ROLES:
            report = result.roles[role].report
            for spec in exercise.specs(role):
                points[spec.id] = 0.0
            if report is not None:
                for check in report.checks:
                    points[check.id] = check.points
        common = ([_number(result.roles[r].score) for r in ROLES]
                  + [_number(result.score), _number(result.max_score), result.status,
                     "yes" if result.late else "no"]
                  + [_number(points.get(i, 0.0)) for i in ids]
                  + [safe_cell("; ".join(result.reasons)), safe_cell("; ".join(result.extra))])
        for person in result.people or ():
            out.append([spreadsheet_text(person.name or result.student),
                        spreadsheet_text(person.sid), spreadsheet_text(person.email),
                        spreadsheet_text(result.key)] + common)
    return out


def render_csv(results: Sequence[StudentResult], exercise: Exercise = HELLO_WORLD) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows(results, exercise))
    return buffer.getvalue()
