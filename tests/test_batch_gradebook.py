"""grades.csv: right numbers, one row per student, and no formula can run from student data."""
import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from grader.batch.discover import Person
from grader.batch.gradebook import render_csv, rows, safe_cell
from grader.batch.outcome import ERROR, GRADED, MISSING, RoleOutcome, StudentResult
from grader.report.safe_text import markup_text
from test_batch_support import find_row, make_report


def _result(name, server=None, client=None, *, people=None, late=False, key=None):
    roles = {
        "server": RoleOutcome("server", GRADED, report=server, file="s.py") if server
        else RoleOutcome("server", MISSING, reason="no server file found"),
        "client": RoleOutcome("client", GRADED, report=client, file="c.py") if client
        else RoleOutcome("client", MISSING, reason="no client file found"),
    }
    return StudentResult(key=key or name, student=name, people=people or (Person(name),),
                         roles=roles, late=late)


def test_scores_statuses_and_check_columns():
    full = _result("ann", make_report("server"), make_report("client"))
    part = _result("bob", make_report("server", ["server.closes"]), None, late=True)
    table = rows([full, part])
    assert find_row(table, "ann", "total") == "20" and find_row(table, "ann", "max") == "20"
    assert find_row(table, "ann", "status") == "graded"
    assert find_row(table, "bob", "server_score") == "10"
    assert find_row(table, "bob", "client_score") == "0"
    assert find_row(table, "bob", "total") == "10" and find_row(table, "bob", "max") == "20"
    assert find_row(table, "bob", "status") == "missing"  # missing outranks late
    assert find_row(table, "bob", "late") == "yes"
    assert find_row(table, "bob", "server.closes") == "0"
    assert find_row(table, "bob", "server.accepts") == "2"
    assert "client: no client file found" in find_row(table, "bob", "reason")


def test_error_status_and_group_rows():
    people = (Person("Ana", "7", "ana@x.edu"), Person("Bo", "8"))
    err = StudentResult(key="g1", student="Ana & Bo", people=people, roles={
        "server": RoleOutcome("server", ERROR, reason="server.py is empty"),
        "client": RoleOutcome("client", GRADED, report=make_report("client")),
    })
    table = rows([err])
    assert [r[0] for r in table[1:]] == ["Ana", "Bo"]  # one row per member, same grades
    assert find_row(table, "Ana", "status") == "error" and find_row(table, "Bo", "total") == "9"
    assert find_row(table, "Ana", "email") == "ana@x.edu"


def test_formula_cells_are_neutralised():
    evil = _result('=HYPERLINK("http://x","y")', make_report("server"), None,
                   people=(Person('=HYPERLINK("http://x","y")', "+1", "@evil"),), key="-k")
    text = render_csv([evil])
    parsed = list(csv.reader(io.StringIO(text)))
    row = parsed[1]
    assert row[0] == "'=HYPERLINK(\"http://x\",\"y\")"
    assert row[1] == "'+1" and row[2] == "'@evil" and row[3] == "'-k"
    for cell in (c for r in parsed[1:] for c in r):
        assert not cell.startswith(("=", "+", "@")) and not (cell.startswith("-") and not _number(cell))


def _number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


@given(st.text(max_size=30))
def test_safe_cell_never_starts_a_formula(text):
    cell = safe_cell(text)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r", "\n"))
    # nothing of the student's text is lost: what a CSV cannot hold is replaced in its place
    assert cell.endswith(markup_text(text)) and len(cell) - len(text) in (0, 1)
