"""``grades.csv``: one row per student, safe to open in a spreadsheet.

A cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return) is a formula to
Excel, LibreOffice and Google Sheets; a student's name or file name could then run one on the
TA's machine ("CSV injection").  Text cells from student data get a leading apostrophe, the
convention spreadsheets show as plain text; numbers we computed are written as numbers.
"""
from __future__ import annotations

import csv
import io
from typing import List, Sequence

from grader.batch.outcome import StudentResult
from grader.exercise import HELLO_WORLD, ROLES
from grader.report.safe_text import markup_text

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def safe_cell(value: object) -> str:
    """Text that a spreadsheet shows as text, never evaluates (and without the NUL or escape
    codes a student's name or output may hold, which break CSV readers)."""
    text = markup_text(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _number(value: float) -> str:
    return f"{value:g}"


def check_ids() -> List[str]:
    return [spec.id for role in ROLES for spec in HELLO_WORLD.specs(role)]


def header() -> List[str]:
    return (["student", "sid", "email", "key"] + [f"{r}_score" for r in ROLES]
            + ["total", "max", "status", "late"] + check_ids() + ["reason", "ungraded_files"])


def rows(results: Sequence[StudentResult]) -> List[List[str]]:
    """The CSV rows (header first); a group submission gives one row per member."""
    out = [header()]
    ids = check_ids()
    for result in results:
        points = {}
        for role in ROLES:
            report = result.roles[role].report
            for spec in HELLO_WORLD.specs(role):
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
            out.append([safe_cell(person.name or result.student), safe_cell(person.sid),
                        safe_cell(person.email), safe_cell(result.key)] + common)
    return out


def render_csv(results: Sequence[StudentResult]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows(results))
    return buffer.getvalue()
