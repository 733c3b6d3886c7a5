"""canvas-import.csv: Canvas's Gradebook import takes it as written, and each total reaches the
right student.

``canvas_import`` below re-implements the checks Canvas's importer applies to an uploaded CSV
(``GradebookImporter`` in instructure/canvas-lms, and the upload page's script that turns the
preview into grade changes), read from its source, not from our writer:

- the file is read as UTF-8; a byte-order mark stays in the first cell (only ``include?``
  checks then see "Student"); a malformed CSV (a quote inside an unquoted field, text after a
  closing quote) fails the import;
- the delimiter is ``;`` when the first three lines split into more, equally many, fields by
  ``;`` than by ``,``; lines of only separators are skipped; a cell that is a pure number has
  its decimal comma turned into a period;
- the header: more than 3 cells, the first holding "Student", the second "ID"; then
  ``SIS Login ID``, or ``SIS User ID`` + ``SIS Login ID`` (+ ``Integration ID``) (+ ``Root
  Account``); the last student column must hold "Section", else "Invalid header row";
- later columns whose title holds "Current Score", "Final Grade", ... are Canvas's own and are
  dropped; ``Title (123)`` is assignment 123, else a title equal to an assignment's, else a new
  assignment; a column is found by the first header cell equal to its title;
- a row whose first cell holds "Points Possible" gives the points; a row of blanks, "Muted" or
  "Manual Posting" is skipped;
- a student is found by ``ID`` (Ruby's ``to_i``), then SIS User ID, SIS Login ID, then name or
  sortable name; otherwise a new student the preview asks about;
- each grade is the cell stripped; one equal to the current grade is no change, a blank one over
  a current grade removes it (``posted_grade: ""``).
"""
from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from grader.integrations.canvas import (CANVAS_IMPORT_CSV, DEFAULT_ASSIGNMENT, canvas_rows,
                                        check_assignment_name, render_canvas_csv, score_text)
from grader.batch.discover import Person
from grader.batch.outcome import ERROR, GRADED, MISSING, RoleOutcome, StudentResult, role_max_score
from grader.batch.run import FINISHED, SOME_ERRORS, BatchOptions, run_batch
from grader.running.inputs import InputError
from test_batch_support import fake_grade, load_make_class, make_report

mc = load_make_class()
ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- Canvas's importer, re-implemented

class Rejected(Exception):
    """The import fails: Canvas shows an error instead of a preview."""


@dataclass
class CanvasStudent:
    id: int
    name: str
    sortable_name: str = ""
    sis_user_id: str = ""
    login_id: str = ""


@dataclass
class Preview:
    """What the upload page shows and, once confirmed, changes."""
    assignments: List[dict]  # {"id": int (<0: new), "title", "points_possible"}
    students: List[Tuple[Optional[int], str]]  # (Canvas user id, None: not found), name
    grades: Dict[Tuple[Optional[int], int], Optional[str]]  # (user id, assignment id) -> grade
    changes: Dict[Tuple[int, int], str] = field(default_factory=dict)  # what is posted


_NON_ASSIGNMENT = re.compile("Current Score|Current Points|Current Grade|Final Score|Final Points|"
                             "Final Grade|Override Score|Override Grade|Override Status")
_TITLE_AND_ID = re.compile(r"\A(.*)\s\((\d+)\)\Z")


def ruby_csv(text: str, sep: str) -> List[List[Optional[str]]]:
    """Ruby's CSV (strict, not liberal_parsing): an empty unquoted field is nil (None), a quote
    may only open a field, and a closing quote must end it."""
    rows, row, i, n = [], [], 0, len(text)
    while i < n:
        if text[i] == '"':
            i += 1
            value = []
            while True:
                if i >= n:
                    raise Rejected("Unclosed quoted field")
                if text[i] == '"':
                    if i + 1 < n and text[i + 1] == '"':
                        value.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                value.append(text[i])
                i += 1
            cell: Optional[str] = "".join(value)
            if i < n and text[i] != sep and text[i] not in "\r\n":
                raise Rejected("Any value after quoted field isn't allowed")
        else:
            j = i
            while j < n and text[j] != sep and text[j] not in "\r\n":
                if text[j] == '"':
                    raise Rejected("Illegal quoting")
                j += 1
            cell = text[i:j] or None
            i = j
        row.append(cell)
        if i < n and text[i] == sep:
            i += 1
            if i == n:
                row.append(None)
            continue
        if text.startswith("\r\n", i):
            i += 2
        elif i < n and text[i] == "\r":
            raise Rejected("Unquoted fields do not allow new line")
        elif i < n:
            i += 1
        rows.append(row)
        row = []
    if row:
        rows.append(row)
    return rows


def _lines(text: str) -> List[str]:
    return [line for line in re.split(r"(?<=\n)", text) if line]


def _delimiter(text: str) -> str:
    counts = {}
    for sep in (";", ","):
        counts[sep] = 0
        try:
            sizes = [len(ruby_csv(line, sep)[0]) if line.strip("\r\n") else 0
                     for line in _lines(text)[:3]]
        except Rejected:
            continue
        if len(set(sizes)) == 1:
            counts[sep] = sizes[0]
    return ";" if counts[";"] > counts[","] else ","


def _decimal_comma_to_period(cell: Optional[str]) -> Optional[str]:
    if cell is None or not re.fullmatch(r"-?[0-9.,]+%?", cell):
        return cell
    parts = re.split(r"[,.]", cell)
    last = parts.pop()
    return last if not parts else "".join(parts) + "." + last


def _ruby_to_i(text: str) -> int:
    match = re.match(r"\s*([+-]?\d+)", text)
    return int(match.group(1)) if match else 0


def _has(cell: Optional[str], word: str) -> bool:
    if cell is None:
        raise Rejected(f"undefined method `include?' for nil (looking for {word!r})")
    return word in cell


def canvas_import(data: bytes, students: List[CanvasStudent], assignments: Dict[int, str],
                  current: Optional[Dict[Tuple[int, int], str]] = None) -> Preview:
    """What Canvas's Gradebook import makes of ``data`` in a course with these students and
    assignments (id -> title) and current grades ((user id, assignment id) -> grade)."""
    current = current or {}
    try:
        text = data.decode("utf-8")  # a BOM is not removed: it is part of the first cell
    except UnicodeDecodeError as exc:
        raise Rejected(f"invalid byte sequence in UTF-8 ({exc})") from None
    sep = _delimiter(text)
    rows = [[_decimal_comma_to_period(c) for c in row] for row in ruby_csv(text, sep)
            if not _skipped_line(row)]
    if not rows:
        raise Rejected("empty file")
    header = rows[0]
    # header?
    if not (len(header) > 3 and _has(header[0], "Student") and _has(header[1], "ID")):
        if len(header) > 4 and header[0] and "LastName" in header[0]:
            raise Rejected("Invalid header row (first and last name columns are off by default)")
        raise Rejected("Invalid header row")
    count = 3
    sis_user = sis_login = None
    if header[2] is not None and re.search(r"SIS\s+Login\s+ID", header[2]):
        sis_login = 2
        count += 1
    elif (header[2] is not None and re.search(r"SIS\s+User\s+ID", header[2])
          and len(header) > 3 and header[3] is not None and re.search(r"SIS\s+Login\s+ID", header[3])):
        extra = 1 if len(header) > 4 and header[4] and re.search(r"Integration\s+ID", header[4]) else 0
        sis_user, sis_login = 2, 3
        count += 2 + extra
        if len(header) > 4 + extra and header[4 + extra] and re.search(r"Root\s+Account", header[4 + extra]):
            count += 1
    if not _has(header[count - 1], "Section"):
        raise Rejected("Invalid header row")
    titles = [c for c in header[count:] if c is None or not _NON_ASSIGNMENT.search(c)]
    found = []
    new_id = 0
    for title in titles:
        if title is None:
            raise Rejected("undefined method for nil (an empty assignment title)")
        match = _TITLE_AND_ID.match(title)
        aid = int(match.group(2)) if match and int(match.group(2)) in assignments else None
        if aid is None:
            aid = next((i for i, t in assignments.items() if t == title), None)
        if aid is None:
            new_id -= 1
            aid = new_id
        found.append({"id": aid, "title": match.group(1) if match and aid < 0 else
                      assignments.get(aid, title), "points_possible": None,
                      "index": header.index(title)})
    by_id = {s.id: s for s in students}
    preview = Preview([], [], {})
    for row in rows[1:]:
        first = row[0] if row else None
        if first is not None and "Points Possible" in first:
            for a in found:
                if a["index"] < len(row) and row[a["index"]] is not None:
                    a["points_possible"] = row[a["index"]]
            continue
        if all(re.fullmatch(r"\s*(Muted|Manual Posting.*)?\s*", c, re.I) for c in row if c is not None):
            continue
        student = None
        cell = row[1] if len(row) > 1 else None
        if cell is not None and cell.strip():
            student = by_id.get(_ruby_to_i(cell))
        if student is None and sis_user is not None and len(row) > sis_user and (row[sis_user] or "").strip():
            student = next((s for s in students if s.sis_user_id == row[sis_user]), None)
        if student is None and sis_login is not None and len(row) > sis_login and (row[sis_login] or "").strip():
            student = next((s for s in students if s.login_id == row[sis_login]), None)
        if student is None:
            student = next((s for s in students if first in (s.name, s.sortable_name)), None)
        uid = student.id if student else None
        preview.students.append((uid, first or ""))
        for a in found:
            grade = row[a["index"]] if a["index"] < len(row) else None
            grade = grade.strip() if grade is not None else None
            preview.grades[(uid, a["id"])] = grade
            if uid is None:
                continue
            before = current.get((uid, a["id"]))
            if (grade or "") == (before or ""):
                continue
            preview.changes[(uid, a["id"])] = grade or ""  # blank over a grade removes it
    preview.assignments = [{k: v for k, v in a.items() if k != "index"} for a in found]
    return preview


def _skipped_line(row: List[Optional[str]]) -> bool:
    """Ruby's skip_lines /^[;, ]+$/: a line of only separators and spaces."""
    return all(c is None or re.fullmatch(r"[;, ]*", c) for c in row) and len(row) > 1


def _numeric(grade: Optional[str]) -> bool:
    return grade is not None and re.fullmatch(r"-?\d+(\.\d+)?", grade) is not None


# ----------------------------------------------------------------- the importer model itself

COURSE = [CanvasStudent(10000, "Ann Lee", "Lee, Ann"), CanvasStudent(10001, "Bob Ray", "Ray, Bob"),
          CanvasStudent(10002, "Cy Doe", "Doe, Cy", sis_user_id="S-3", login_id="cy")]
LAB = {555: "Lab 1", 777: "Lab 2"}


def _bytes(rows, bom=True) -> bytes:
    return (b"\xef\xbb\xbf" if bom else b"") + render_canvas_csv(rows).encode("utf-8")


def test_model_needs_the_student_columns_ending_in_section():
    good = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Lab 1 (555)"],
            ["Lee, Ann", "10000", "", "", "", "7"]]
    assert canvas_import(_bytes(good), COURSE, LAB).changes == {(10000, 555): "7"}
    for header in (["student", "ID", "SIS User ID", "SIS Login ID", "Section", "Lab"],
                   ["Student", "ID", "SIS User ID", "SIS Login ID", "Lab 1 (555)", "x"],
                   ["Student", "ID", "SIS Login ID", "Lab 1 (555)", "x"],
                   ["Student", "ID", "Section"]):  # not more than 3 cells
        with pytest.raises(Rejected, match="header"):
            canvas_import(_bytes([header, ["a", "1", "", "", "", ""]]), COURSE, LAB)
    short = [["Student", "ID", "Section", "Lab 2"], ["x", "10001", "", "9"]]
    assert canvas_import(_bytes(short, bom=False), COURSE, LAB).changes == {(10001, 777): "9"}


def test_model_matches_by_id_first_then_sis_ids_then_name():
    rows = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Lab 1 (555)"],
            ["Ray, Bob", "10000", "", "", "", "1"],  # the ID wins over the name
            ["nobody", "", "S-3", "", "", "2"],
            ["Bob Ray", "", "", "", "", "3"],
            ["Stranger", "99", "", "", "", "4"]]
    preview = canvas_import(_bytes(rows), COURSE, LAB)
    assert [uid for uid, _ in preview.students] == [10000, 10002, 10001, None]


def test_model_drops_canvas_own_columns_and_creates_unknown_assignments():
    rows = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Current Score",
             "Lab 2", "New lab", "Unposted Final Grade"],
            ["Points Possible", "", "", "", "", "(read only)", "10", "15", "(read only)"],
            ["Ann", "10000", "", "", "", "88", "9", "14", "70"]]
    preview = canvas_import(_bytes(rows), COURSE, LAB)
    assert [(a["id"] > 0, a["title"], a["points_possible"]) for a in preview.assignments] == [
        (True, "Lab 2", "10"), (False, "New lab", "15")]


def test_model_rejects_malformed_csv_and_other_encodings_and_reads_semicolons():
    with pytest.raises(Rejected):
        canvas_import(b'Student,ID,Section,Lab\r\nA"nn,10000,,5\r\n', COURSE, LAB)
    with pytest.raises(Rejected):
        canvas_import("Student,ID,Section,Lab\r\nZo\u00eb,10000,,5\r\n".encode("latin-1"), COURSE, LAB)
    semi = "Student;ID;Section;Lab 1 (555)\r\nAnn;10000;;7,5\r\n".encode()
    assert canvas_import(semi, COURSE, LAB).changes == {(10000, 555): "7.5"}


def test_model_blank_grade_removes_a_current_one():
    rows = [["Student", "ID", "Section", "Lab 1 (555)"], ["Ann", "10000", "", ""],
            ["Bob", "10001", "", "5"]]
    preview = canvas_import(_bytes(rows), COURSE, LAB, current={(10000, 555): "12", (10001, 555): "5"})
    assert preview.changes == {(10000, 555): ""}


# ------------------------------------------------------------------------------ our file

def _canvas_class(root: Path) -> Path:
    S = mc.Student
    return mc.make_class(root, mc.CANVAS, [
        S("Ann Lee", "# pass\n", "# pass\n"),  # 10000: full marks
        S("Bob Ray", "# fail server.closes server.exits\n", "# fail client.prints_message\n"),  # 10001
        S("Cy Doe", "# pass\n", None),  # 10002: no client
        S("Dee Fox", "# pass\n", "# input-error\n"),  # 10003: an error
        S("Eve Lin", "# pass\n", "# pass\n", late=True),  # 10004
    ])


def _course():
    return [CanvasStudent(10000 + i, n) for i, n in enumerate(
        ["Ann Lee", "Bob Ray", "Cy Doe", "Dee Fox", "Eve Lin"])]


def _run(root: Path, out: Path, **options):
    stdout, stderr = io.StringIO(), io.StringIO()
    code = run_batch(root, BatchOptions(out=out, **options), stdout=stdout, stderr=stderr,
                     grade=fake_grade, show_progress=False)
    return code, stdout.getvalue()


def _totals_by_sid(out: Path) -> Dict[str, float]:
    students = json.loads((out / "results.json").read_text(encoding="utf-8"))["students"]
    return {s["people"][0]["sid"]: (s["score"], s["status"]) for s in students}


def test_a_canvas_batch_writes_a_file_canvas_imports_with_each_total_on_its_user_id(tmp_path):
    out = tmp_path / "out"
    code, stdout = _run(_canvas_class(tmp_path / "subs"), out, canvas_assignment="Lab 1 (555)")
    assert code == SOME_ERRORS  # Dee's error
    data = (out / CANVAS_IMPORT_CSV).read_bytes()
    preview = canvas_import(data, _course(), LAB, current={(10003, 555): "17"})
    assert [a["id"] for a in preview.assignments] == [555]
    assert preview.assignments[0]["points_possible"] == "20"
    totals = _totals_by_sid(out)
    expected = {int(sid): score_text(score) for sid, (score, status) in totals.items()
                if status != ERROR}
    assert {uid: preview.grades[(uid, 555)] for uid, _ in preview.students} == expected
    assert expected[10000] == "20" and expected[10001] != expected[10000]  # not one number for all
    assert expected[10002] == score_text(role_max_score("server"))  # no client: 0 for it
    assert all(_numeric(g) for g in preview.grades.values())
    assert None not in [uid for uid, _ in preview.students]  # every row found its student
    assert (10003, 555) not in preview.changes  # Dee's current grade is left alone
    assert "canvas-import.csv: 4 students' totals under 'Lab 1 (555)'" in stdout
    assert "leaves their Canvas grade as it is: foxdee (user 10003, error: grade by hand)." in stdout


def test_the_default_column_is_the_lab_s_name_offered_as_a_new_assignment(tmp_path):
    out = tmp_path / "out"
    _run(_canvas_class(tmp_path / "subs"), out)
    preview = canvas_import((out / CANVAS_IMPORT_CSV).read_bytes(), _course(), LAB)
    assert preview.assignments == [{"id": -1, "title": DEFAULT_ASSIGNMENT, "points_possible": "20"}]
    # ... or matched by its title when the course has an assignment of that name
    matched = canvas_import((out / CANVAS_IMPORT_CSV).read_bytes(), _course(), {9: DEFAULT_ASSIGNMENT})
    assert [a["id"] for a in matched.assignments] == [9]


def test_the_detailed_grades_csv_is_not_importable(tmp_path):
    out = tmp_path / "out"
    _run(_canvas_class(tmp_path / "subs"), out)
    with pytest.raises(Rejected, match="header"):
        canvas_import((out / "grades.csv").read_bytes(), _course(), LAB)


def test_hostile_names_are_matched_by_id_and_never_a_formula():
    results = []
    for i, name in enumerate(['=HYPERLINK("http://x","y")', '+cmd|" /C calc"!A0', "@SUM(1)",
                              'Ann "the" Lee, Jr;', "line\nbreak"]):
        results.append(StudentResult(key=f"k{i}", student=name, people=(Person(name, str(20 + i)),),
                                     roles={"server": RoleOutcome("server", GRADED, report=make_report("server")),
                                            "client": RoleOutcome("client", MISSING, reason="none")}))
    table = canvas_rows(results, "Lab 1 (555)")
    data = _bytes(table.rows)
    course = [CanvasStudent(20 + i, f"S{i}") for i in range(5)]
    preview = canvas_import(data, course, LAB)
    assert [uid for uid, _ in preview.students] == [20, 21, 22, 23, 24]
    assert set(preview.changes.values()) == {score_text(role_max_score("server"))}
    for row in csv.reader(io.StringIO(data.decode("utf-8-sig"))):
        assert not row[0].startswith(("=", "+", "-", "@"))


def test_error_rows_and_people_without_a_canvas_id_are_left_out_and_said():
    ok = RoleOutcome("server", GRADED, report=make_report("server"))
    err = StudentResult(key="e", student="Err", people=(Person("Err", "5"),), roles={
        "server": ok, "client": RoleOutcome("client", ERROR, reason="grader bug")})
    anon = StudentResult(key="a", student="Anon", people=(Person("Anon", "anon-x1"),), roles={
        "server": ok, "client": RoleOutcome("client", MISSING, reason="none")})
    table = canvas_rows([err, anon])
    assert len(table.rows) == 2  # header and Points Possible only
    assert table.left_out == ["Err (user 5, error: grade by hand)", "Anon (no Canvas user id)"]


def test_score_text_is_what_canvas_reads():
    assert [score_text(v) for v in (20.0, 9.5, 0.0, 1 / 3, 1e6)] == ["20", "9.5", "0", "0.33", "1000000"]


@pytest.mark.parametrize("name", ["", "  ", "Final Grade", "Lab 1 Current Score", "Section",
                                  "ID", "two\nlines"])
def test_assignment_names_canvas_would_not_take_are_refused(name):
    with pytest.raises(InputError):
        check_assignment_name(name)


def test_a_refused_assignment_name_stops_the_command_before_grading(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "grader", "batch", str(tmp_path), "--out",
                           str(tmp_path / "out"), "--canvas-assignment", "Final Grade"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Canvas reads a column called 'Final Grade'" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_run_batch_refuses_a_bad_assignment_name_before_grading(tmp_path):
    graded = []
    stderr = io.StringIO()
    code = run_batch(_canvas_class(tmp_path / "subs"), BatchOptions(out=tmp_path / "out",
                     canvas_assignment="Current Score"), stdout=io.StringIO(), stderr=stderr,
                     grade=lambda role, path: graded.append(path) or fake_grade(role, path),
                     show_progress=False)
    assert code == 2 and "Current Score" in stderr.getvalue() and not graded


def test_other_layouts_write_no_canvas_file_and_remove_a_stale_one(tmp_path):
    root = mc.make_class(tmp_path / "subs", mc.FOLDERS, [mc.Student("ann", "# pass\n", "# pass\n")])
    out = tmp_path / "out"
    out.mkdir()
    (out / CANVAS_IMPORT_CSV).write_text("stale", encoding="utf-8")
    code, stdout = _run(root, out)
    assert code == FINISHED and not (out / CANVAS_IMPORT_CSV).exists()
    assert CANVAS_IMPORT_CSV not in stdout  # nothing asked, nothing said
    code, stdout = _run(root, out, canvas_assignment="Lab 1 (555)")
    assert f"{CANVAS_IMPORT_CSV} was not written" in stdout and "one folder per student" in stdout


def test_a_real_grading_of_a_canvas_export_imports_each_total_on_its_user_id(tmp_path):
    """The real grader on real programs (loopback only, 2 s limit): the totals Canvas would
    import are the ones results.json holds, per user id."""
    f = mc.fixture
    S = mc.Student
    root = mc.make_class(tmp_path / "subs", mc.CANVAS, [
        S("Ann Lee", f("server", "correct_with_blocks"), f("client", "correct_with_block")),
        S("Bob Ray", None, f("client", "prints_bytes")),
    ])
    out = tmp_path / "out"
    stdout, stderr = io.StringIO(), io.StringIO()
    run_batch(root, BatchOptions(out=out, jobs=3, timeout=2.0), stdout=stdout, stderr=stderr,
              show_progress=False)
    preview = canvas_import((out / CANVAS_IMPORT_CSV).read_bytes(), _course(), LAB)
    totals = {int(sid): score_text(score) for sid, (score, _) in _totals_by_sid(out).items()}
    assert {uid: preview.grades[(uid, -1)] for uid, _ in preview.students} == totals
    assert totals[10000] == "20" and float(totals[10001]) < 9  # no server; bytes printed
