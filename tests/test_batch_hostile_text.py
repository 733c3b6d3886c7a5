"""Whatever a student's names and output hold, every output is written and stays valid.

A lone surrogate (output printed with errors="surrogateescape", an exception message decoded that
way, a file name that is not UTF-8), NUL and escape codes: the batch still writes results.json,
grades.csv, feedback/, report.html and junit.xml, the student stays graded, and every such
character is shown as U+FFFD, in every output alike.
"""
import csv
import io
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from grader.report import render
from grader.report.safe_text import markup_text, writable
from test_batch_support import find_row, load_make_class, make_report

mc = load_make_class()
ROOT = Path(__file__).resolve().parent.parent
MARK = "\ufffd"
NOT_UTF8_FOLDER = os.fsdecode(b"Bad\xffname")
NOT_UTF8_FILE = os.fsdecode(b"server\xfe.py")


def _cli(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "grader", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, timeout=120, stdin=subprocess.DEVNULL)


def _can_name_files_in_bytes(folder: Path) -> bool:
    try:
        (folder / NOT_UTF8_FOLDER).mkdir()
    except (OSError, UnicodeEncodeError):
        return False  # macOS and Windows file systems refuse such names
    (folder / NOT_UTF8_FOLDER).rmdir()
    return True


def test_the_shared_rule_replaces_what_cannot_be_written_and_keeps_the_rest():
    assert writable("a\udcffb\ud800") == f"a{MARK}b{MARK}"
    assert writable("NUL\x00 ESC\x1b ok é") == "NUL\x00 ESC\x1b ok é"  # JSON and text can hold those
    assert markup_text("a\x00b\x1bc\td\ne\udcff\uffff") == f"a{MARK}b{MARK}c\td\ne{MARK}{MARK}"
    assert writable(None) == "" and markup_text(42) == "42"


@pytest.mark.parametrize("fmt", ["json", "junit", "text"])
def test_every_single_program_format_is_writable(fmt):
    report = make_report("server", ["server.runs"], file=NOT_UTF8_FILE,
                         stdout="caf\udce9 NUL\x00 ESC\x1b[31m", stderr="ValueError: \udcfe")
    text = render(fmt, [report], verbose=True)
    text.encode("utf-8")  # raises if a surrogate is left
    assert MARK in text
    if fmt == "json":
        assert json.loads(text)["stdout"] == f"caf{MARK} NUL\x00 ESC\x1b[31m"
    if fmt == "junit":
        ET.fromstring(text.encode("utf-8"))


@pytest.mark.parametrize("fmt", ["json", "junit"])
def test_the_command_line_writes_valid_json_and_junit_for_a_hostile_program(fmt):
    run = _cli("client", ROOT / "tests/fixtures/batch/raises_surrogate_client.py", "--format", fmt,
               "--timeout", "2")
    assert run.returncode == 1, run.stderr  # checks failed; not 3, a grader error
    text = run.stdout.decode("utf-8")  # strict: a surrogate would have been written as bytes
    # (The program's own stderr holds a literal "\\udcff": its interpreter escaped it there.)
    if fmt == "json":  # U+FFFD, not a backslash escape a strict JSON reader refuses
        assert json.loads(text)["checks"][0]["actual"] == f"ValueError on line 14: bad byte: {MARK}"
    else:
        failure = ET.fromstring(run.stdout).find(".//testcase[@name='client.runs']/failure")
        assert f"bad byte: {MARK}" in failure.text


def test_a_class_with_surrogates_control_characters_and_names_that_are_not_utf8(tmp_path):
    if not _can_name_files_in_bytes(tmp_path):
        pytest.skip("this file system takes only UTF-8 names")
    f = mc.fixture
    students = [
        mc.Student("Honest", f("server", "correct_with_blocks"), f("client", "correct_with_block")),
        mc.Student("Hostile", f("batch", "prints_surrogates_server"), f("batch", "raises_surrogate_client")),
        mc.Student(NOT_UTF8_FOLDER, f("server", "correct_with_blocks"), f("client", "correct_with_block"),
                   server_name=NOT_UTF8_FILE),
        mc.Student("Esc\x1b[31mRed\nLine", f("server", "correct_with_blocks"), None),
    ]
    subs = mc.make_class(tmp_path / "subs", mc.FOLDERS, students)
    out = tmp_path / "out"
    run = _cli("batch", subs, "--out", out, "--timeout", "2", "--format", "junit", "--no-sandbox")
    assert run.returncode == 0, run.stderr.decode(errors="replace")

    # Every output is there, valid, and strict UTF-8 (read_text raises on anything else).
    document = json.loads((out / "results.json").read_text(encoding="utf-8"))
    rows = list(csv.reader(io.StringIO((out / "grades.csv").read_text(encoding="utf-8-sig"))))
    page = (out / "report.html").read_text(encoding="utf-8")
    ET.fromstring((out / "junit.xml").read_bytes())
    feedback = {p.name: p.read_text(encoding="utf-8") for p in (out / "feedback").iterdir()}
    assert len(feedback) == 4 and len(rows) == 5
    for text in (page, (out / "grades.csv").read_text(encoding="utf-8-sig")):
        assert "\x00" not in text and "\x1b" not in text
    assert find_row(rows, f"Esc{MARK}[31mRed\nLine", "status") == "missing"  # no client

    # The students stay graded, and the hostile one gets what the same code earns anywhere.
    bad_name = f"Bad{MARK}name"
    assert find_row(rows, "Hostile", "server_score") == find_row(rows, "Honest", "server_score") == "11"
    assert find_row(rows, "Hostile", "client_score") == "7"  # runs and exits fail, the rest passes
    assert find_row(rows, bad_name, "total") == "20" and find_row(rows, bad_name, "status") == "graded"
    students_by_key = {s["key"]: s for s in document["students"]}
    assert students_by_key[bad_name]["roles"]["server"]["file"] == f"{bad_name}/server{MARK}.py"
    hostile = students_by_key["Hostile"]["roles"]
    assert hostile["server"]["report"]["stdout"].startswith(f"caf{MARK} {MARK}{MARK}\nNUL\x00 ESC\x1b")
    assert hostile["client"]["report"]["checks"][0]["actual"].endswith(f"bad byte: {MARK}")
    assert f"bad byte: {MARK}" in feedback["Hostile.txt"] and f"bad byte: {MARK}" in page

    # A re-run finds every student it graded, the one whose name is not UTF-8 too.
    again = _cli("batch", subs, "--out", out, "--timeout", "2", "--no-sandbox")
    assert again.returncode == 0 and b"4 students unchanged" in again.stdout
