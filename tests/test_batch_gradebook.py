"""grades.csv: right numbers, one row per student, no formula can run from student data, and
IDs a spreadsheet would turn into numbers or dates arrive as the text they are."""
import csv
import io
import re
from decimal import Decimal, InvalidOperation

from hypothesis import given
from hypothesis import strategies as st

from grader.batch.discover import Person
from grader.batch.gradebook import render_csv, rows, safe_cell, spreadsheet_text, text_formula
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
    assert row[1] == '="+1"'  # a spreadsheet would read +1 as the number 1: kept as text
    assert row[2] == "'@evil" and row[3] == "'-k"
    for cell in (c for r in parsed[1:] for c in r):
        assert spreadsheet_reads(cell)[0] in ("text", "number")


@given(st.text(max_size=30))
def test_safe_cell_never_starts_a_formula(text):
    cell = safe_cell(text)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r", "\n"))
    # nothing of the student's text is lost: what a CSV cannot hold is replaced in its place
    assert cell.endswith(markup_text(text)) and len(cell) - len(text) in (0, 1)


# ------------------------------------------------ how a spreadsheet reads a cell of a CSV file

_MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
_AMOUNT = re.compile(r"(?P<neg>\()?(?P<sign>[+-])?\$?(?P<digits>\d{1,3}(?:,\d{3})+|\d*)"
                     r"(?P<frac>\.\d*)?(?P<exp>[eE][+-]?\d+)?(?P<pct>%)?(?(neg)\))")


def spreadsheet_reads(cell: str):
    """(kind, what is shown) for a CSV cell opened in Excel, LibreOffice (formulas evaluated) or
    Google Sheets: a formula runs, except that the text formula ="..." shows its text; text
    that looks like a number, a date, a time or a truth value is converted, and a number is
    shown in the General format (15 significant digits; 12 digits or more as 1.23457E+11)."""
    if cell.startswith("="):
        literal = re.fullmatch(r'="((?:[^"]|"")*)"', cell)
        return ("text", literal.group(1).replace('""', '"')) if literal else ("formula", cell)
    if cell.startswith(("@", "\t", "\r")):
        return "formula", cell
    if cell.startswith(("+", "-")) and _number(cell.strip()) is None:
        return "formula", cell
    stripped = cell.strip()
    if stripped.upper() in ("TRUE", "FALSE"):
        return "boolean", stripped.upper()
    value = _number(stripped)
    if value is not None:
        return "number", _general(value)
    if (re.fullmatch(r"\d{1,4}\s*[-/.]\s*\d{1,4}(\s*[-/.]\s*\d{1,4})?", stripped)
            or re.fullmatch(r"\d{1,2}:\d{1,2}(:\d{1,2})?(\s*[ap]m)?", stripped, re.I)
            or re.fullmatch(rf"(\d{{1,4}}[\s\-/.,]*({_MONTHS})[a-z]*\.?|({_MONTHS})[a-z]*\.?[\s\-/.,]*\d{{1,4}})"
                            r"([\s\-/.,]+\d{1,4})?", stripped, re.I)):
        return "date", "(a date or time)"
    return "text", cell


def _number(text: str):
    fraction = re.fullmatch(r"(\d+) (\d+)/(\d+)", text)  # "1 1/2" is 1.5
    if fraction and int(fraction.group(3)):
        return Decimal(fraction.group(1)) + Decimal(fraction.group(2)) / Decimal(fraction.group(3))
    match = _AMOUNT.fullmatch(text)
    if not match or not re.search(r"\d", (match.group("digits") or "") + (match.group("frac") or "")):
        return None
    try:
        value = Decimal((match.group("digits") or "0").replace(",", "") + (match.group("frac") or "")
                        + (match.group("exp") or ""))
    except InvalidOperation:
        return None
    if match.group("pct"):
        value /= 100
    return -value if match.group("neg") or match.group("sign") == "-" else value


def _general(value: Decimal) -> str:
    value = Decimal(format(value, ".15g"))  # a spreadsheet keeps 15 significant digits
    if value == value.to_integral_value() and abs(value) < Decimal(10) ** 11:
        return str(int(value))
    if abs(value) >= Decimal(10) ** 11 or (value and abs(value) < Decimal("1e-9")):
        mantissa, exponent = f"{value:.5E}".split("E")
        return f"{mantissa.rstrip('0').rstrip('.')}E{int(exponent):+03d}"
    return format(value.normalize(), "f")


def _cell_of_sid(sid: str) -> str:
    result = _result("x", make_report("server"), None, people=(Person("x", sid),))
    return list(csv.reader(io.StringIO(render_csv([result]))))[1][1]


ALTERED = ["00123", "0001", "12345678901234567890", "123456789012", "1E5", "2e-3", "3-4", "3/4",
           "2024-01-05", "12:30", "Mar-12", "5 March", "1,234", "(12)", "5%", "$5", "1.50", "-12",
           "+4420", " 42", "TRUE", "1 1/2"]


def test_the_spreadsheet_model_alters_these_ids_when_written_plain():
    for sid in ALTERED:
        assert spreadsheet_reads(sid) != ("text", sid), sid  # so the next test means something


def test_ids_a_spreadsheet_would_alter_arrive_as_the_same_text():
    for sid in ALTERED:
        cell = _cell_of_sid(sid)
        assert cell == '="' + sid + '"'
        assert spreadsheet_reads(cell) == ("text", sid), sid


def test_plain_ids_and_names_stay_plain():
    for sid in ["123", "0", "12345678901", "s1234", "doe_jane", "ann-marie", "A1", "ann@x.edu",
                "Zoë Ångström"]:
        cell = _cell_of_sid(sid)
        assert cell == sid and spreadsheet_reads(cell)[1] == sid


def test_the_text_formula_cannot_be_broken_out_of():
    for text in ['1"&HYPERLINK("http://x")&"', '=1+1', '"', '3-4"', '""', "00123"]:
        assert spreadsheet_reads(text_formula(text)) == ("text", text)
        assert spreadsheet_reads(spreadsheet_text(text))[0] == "text"


def test_hostile_names_never_become_formulas_in_any_identity_column():
    for name in ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0",
                 "-2+3+cmd|' /C calc'!A0", '="a"&HYPERLINK("x")', "\t=1+1"]:
        result = _result(name, make_report("server"), None, people=(Person(name, name, name),),
                         key=name)
        row = list(csv.reader(io.StringIO(render_csv([result]))))[1]
        for cell in row[:4]:
            kind, shown = spreadsheet_reads(cell)
            assert kind == "text" and shown.lstrip("'") == markup_text(name), (name, cell)


@given(st.one_of(st.from_regex(r"[0-9eE.,:/ +\-$%()]{1,12}", fullmatch=True),
                 st.text(alphabet="0123456789eE.,-+/:$%() JanMrTRUEfalse'=@\"", max_size=14),
                 st.text(max_size=14)))
def test_an_identity_cell_shows_exactly_its_text(text):
    """Whatever a name or ID holds, a spreadsheet shows it as written (a leading apostrophe
    aside, the mark of a neutralised formula) and never runs it."""
    cell = spreadsheet_text(text)
    kind, shown = spreadsheet_reads(cell)
    assert kind in ("text", "number"), (text, cell, kind)
    assert shown in (markup_text(text), "'" + markup_text(text)), (text, cell, shown)
