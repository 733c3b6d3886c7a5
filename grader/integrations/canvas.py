"""``canvas-import.csv``: the class's totals in the form Canvas's Gradebook "Import" accepts.

What Canvas's importer (``GradebookImporter``) does with a CSV, and so what this file holds:

- The header starts with the student columns ``Student``, ``ID``, ``SIS User ID``,
  ``SIS Login ID``, ``Section`` (the last must be ``Section``).  Every later column is an
  assignment: ``Lab 1 (12345)`` is assignment 12345, a bare title is looked up by title, and
  anything else is offered as a new assignment (the preview asks).  Titles holding "Current
  Score", "Final Grade" and the like are Canvas's computed columns and are dropped, so the
  assignment name may not hold them.
- A row whose first cell says ``Points Possible`` gives each assignment its maximum (used when
  the assignment is created by the import).
- A student is matched by ``ID``, Canvas's user id, first; then by SIS ids, then by name.
  In a Canvas "Download Submissions" export that id is in every file name, so each row here
  carries it and SIS columns stay empty.
- A blank score for a student who already has one removes it; a student with no row is left
  alone.  So a student whose grading failed (``error``) gets no row: importing must not
  replace a score with a wrong 0 or with nothing.  A missing role already scores 0 in the total.

Canvas reads the raw values: no spreadsheet protection (``gradebook.spreadsheet_text``) is
applied to IDs or scores, only ``safe_cell`` to the name (which Canvas matches on only when
the ID is unknown), so a TA who opens the file cannot run a student's formula.
"""
from __future__ import annotations

import csv
import io
import re
from typing import List, NamedTuple, Optional, Sequence

from grader.batch.gradebook import safe_cell
from grader.batch.outcome import ERROR, StudentResult
from grader.exercises.default import HELLO_WORLD
from grader.running.inputs import InputError
from grader.report.safe_text import markup_text

CANVAS_IMPORT_CSV = "canvas-import.csv"
STUDENT_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
POINTS_POSSIBLE = "Points Possible"
DEFAULT_ASSIGNMENT = HELLO_WORLD.name

# Header words Canvas treats as its own columns, never as an assignment (it matches them
# anywhere in a title, so "Final Grade of Lab 1" would be dropped as well).
_CANVAS_OWN_COLUMNS = ("Current Score", "Current Points", "Current Grade", "Final Score",
                       "Final Points", "Final Grade", "Override Score", "Override Grade",
                       "Override Status")
_RESERVED_TITLES = ("Student", "LastName", "FirstName", "ID", "SIS User ID", "SIS Login ID",
                    "Section", "Integration ID", "Root Account")
_CANVAS_USER_ID = re.compile(r"[0-9]+")


class CanvasRows(NamedTuple):
    rows: List[List[str]]  # header, Points Possible, one row per student with a Canvas id
    left_out: List[str]  # "name (why)", for the summary: students with no row


def check_assignment_name(name: str) -> str:
    """The assignment column's title, as given with ``--canvas-assignment``; an ``InputError``
    that says why when Canvas would not take it as an assignment."""
    title = name.strip()
    example = 'e.g. --canvas-assignment "Lab 1 (12345)", the id from the assignment\'s address'
    if not title:
        raise InputError(f"--canvas-assignment is empty: give the assignment's name ({example}).")
    if any(c in title for c in "\r\n\t"):
        raise InputError(f"--canvas-assignment must be one line ({example}).")
    own = [word for word in _CANVAS_OWN_COLUMNS if word in title]
    if own or title in _RESERVED_TITLES:
        clash = own[0] if own else title
        raise InputError(f"--canvas-assignment {title!r}: Canvas reads a column called "
                         f"{clash!r} as one of its own, not as an assignment; choose another name "
                         f"({example}).")
    return title


def canvas_user_id(sid: str) -> Optional[str]:
    """The Canvas user id a person's ``sid`` holds, or None (a Canvas export's file names hold
    it as digits; anything else cannot be matched by Canvas's ``ID`` column)."""
    return sid if _CANVAS_USER_ID.fullmatch(sid or "") else None


def score_text(value: float) -> str:
    """A score as Canvas reads it: plain decimal, never an exponent, at most 2 decimals (what
    Canvas itself exports)."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def canvas_rows(results: Sequence[StudentResult],
                assignment: str = DEFAULT_ASSIGNMENT) -> CanvasRows:
    """One row per person with a Canvas user id whose grading did not fail."""
    title = check_assignment_name(assignment)
    maximum = max((r.max_score for r in results), default=0.0)
    rows = [list(STUDENT_COLUMNS) + [title],
            [POINTS_POSSIBLE] + [""] * (len(STUDENT_COLUMNS) - 1) + [score_text(maximum)]]
    left_out = []
    for result in results:
        for person in result.people or ():
            name = person.name or result.student
            uid = canvas_user_id(person.sid)
            if result.status == ERROR:
                who = f"user {uid}, " if uid else ""
                left_out.append(f"{name} ({who}error: grade by hand)")
            elif uid is None:
                left_out.append(f"{name} (no Canvas user id)")
            else:
                rows.append([safe_cell(name), uid, "", "", "", score_text(result.score)])
    return CanvasRows(rows, left_out)


def summary_lines(table: CanvasRows, out_name: str) -> List[str]:
    """What the TA is told about the file: how many rows, who was left out and why."""
    students = len(table.rows) - 2
    lines = [f"{out_name}: {students} students' totals under {table.rows[0][-1]!r}, for the "
             "Canvas Gradebook's Import (README: Canvas)."]
    if table.left_out:
        # markup_text: a name's escape codes must not reach the TA's terminal as such
        more = len(table.left_out) - 5
        shown = ", ".join(markup_text(n) for n in table.left_out[:5]) + (
            f" and {more} more" if more > 0 else "")
        lines.append(f"Not in {out_name}, so importing leaves their Canvas grade as it is: {shown}.")
    return lines


def render_canvas_csv(rows: Sequence[Sequence[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()
