"""The batch command end to end, with the real grader and real student programs.

A dozen students in each layout, all on port 12345, with programs that hang, crash, flood the
console and print markup, plus malformed submissions.  The time limit is 1 s to keep the suite
quick; the fixtures' verdicts do not depend on it.
"""
import csv
import functools
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader.grading import GradeOptions, grade_file
from conftest import grader_processes
from test_batch_support import find_row, load_make_class

mc = load_make_class()
ROOT = Path(__file__).resolve().parent.parent


@functools.lru_cache(maxsize=None)
def _single_program_points(role: str, path: Path) -> float:
    """What the single-program grader gives this file with the batch's options."""
    return grade_file(role, path, GradeOptions(timeout=1.0)).score


def _roster():
    f = mc.fixture
    S = mc.Student
    return [
        S("Ann Lee", f("server", "correct_with_blocks"), f("client", "correct_with_block")),
        S("Bob O'Neil", f("server", "loops_forever_accepting"), f("client", "sleeps_forever")),
        S("Zoë Ångström", f("server", "crash_after_send"), f("client", "prints_bytes"), late=True),
        S("=cmd calc", f("server", "correct_with_blocks"), f("batch", "prints_markup_client")),
        S("li lei", f("batch", "sleeps_before_accept_server"), None),
        S("Cy Dee", None, f("client", "syntax_error")),
        S("Dee Flood", f("batch", "floods_console_server"), f("client", "correct_with_block")),
        S("Finn Three", f("server", "correct_with_blocks"), f("client", "correct_with_block"),
          extra={"notes.py": "print('my notes')\n"}),
        S("Gus Empty", "", f("client", "correct_with_block")),
        S("Hal Text", None, f("client", "correct_with_block"), extra={"server.txt": "not python"}),
        S("Ivy Names", f("server", "correct_with_blocks"), f("client", "correct_with_block"),
          server_name="My Server (1).py", client_name="cliente final.py"),
    ]


# name -> status; the points must be the single-program grader's, or 0 for a missing role.
STATUS = {"Ann Lee": "graded", "Bob O'Neil": "graded", "Zoë Ångström": "late", "=cmd calc": "graded",
          "li lei": "missing", "Cy Dee": "missing", "Dee Flood": "graded", "Finn Three": "graded",
          "Gus Empty": "error", "Hal Text": "missing", "Ivy Names": "graded"}


def _expected():
    expected = {}
    for student in _roster():
        points = []
        for role in ("server", "client"):
            program = getattr(student, role)
            points.append(_single_program_points(role, program) if isinstance(program, Path) else 0)
        expected[student.name] = (points[0], points[1], STATUS[student.name])
    return expected


def _batch(*args, timeout=120):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "grader", "batch", *map(str, args)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _rows(out: Path):
    return list(csv.reader(io.StringIO((out / "grades.csv").read_text(encoding="utf-8-sig"))))


def _student_column(layout: str, name: str) -> str:
    # Canvas shows its own form of the name; the others show it as given.
    return mc._canvas_name(name) if layout == mc.CANVAS else name


@pytest.mark.parametrize("layout", mc.LAYOUTS)
def test_generated_class_in_each_layout(tmp_path, layout):
    subs = mc.make_class(tmp_path / "subs", layout, _roster())
    out = tmp_path / "out"
    started = time.monotonic()
    run = _batch(subs, "--out", out, "--timeout", "1", "--format", "junit")
    elapsed = time.monotonic() - started
    assert run.returncode == 1, run.stderr  # 1: finished, with an error row (Gus's empty file)
    first = run.stdout.splitlines()[0]
    assert first.startswith("Found 11 students (" + {
        "folders": "one folder per student", "canvas": "Canvas export",
        "gradescope": "Gradescope export"}[layout] + ", in ")
    assert "Traceback" not in run.stdout + run.stderr
    assert run.stderr == ""  # no progress line when not on a terminal
    rows = _rows(out)
    assert len(rows) == 12
    for name, (server, client, status) in _expected().items():
        key = _student_column(layout, name)
        if layout == mc.CANVAS and name == "=cmd calc":
            key = "calccmd"
        elif name.startswith("="):
            key = "'" + name  # neutralised formula
        if status == "late" and layout != mc.CANVAS:
            status = "graded"  # only Canvas exports say a submission was late
        assert find_row(rows, key, "status") == status, name
        if server is not None:
            assert float(find_row(rows, key, "server_score")) == server, name
        assert float(find_row(rows, key, "client_score")) == client, name
        assert find_row(rows, key, "max") == "20"
    finn = _student_column(layout, "Finn Three")
    assert "notes.py" in find_row(rows, finn, "ungraded_files")
    assert "server.txt" in find_row(rows, _student_column(layout, "Hal Text"), "ungraded_files")

    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert f"({data['layout']}, in " in first
    assert len(data["students"]) == 11
    flood = next(s for s in data["students"] if "Flood" in s["student"] or "flood" in s["student"])
    assert flood["roles"]["server"]["state"] == "graded"
    feedback = sorted(p.name for p in (out / "feedback").iterdir())
    assert len(feedback) == 11
    ann = {"folders": "Ann_Lee.txt", "canvas": "leeann.txt", "gradescope": "Ann_Lee.txt"}[layout]
    assert ann in feedback  # named after the student, whatever the layout
    text = (out / "feedback" / ann).read_text(encoding="utf-8")
    assert "20 / 20 points" in text and "server.closes" in text and "client.closes" in text
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<script>document.title" not in page and "&lt;script&gt;document.title" in page
    assert (out / "junit.xml").read_text().count("<testsuite ") == 22
    assert elapsed < 60

    # A second run regrades nothing and gives the same gradebook.
    again = _batch(subs, "--out", out, "--timeout", "1")
    assert "11 students unchanged" in again.stdout, again.stdout
    assert _rows(out) == rows


def test_zip_of_a_class_with_a_wrapping_folder(tmp_path):
    subs = mc.make_class(tmp_path / "subs", mc.CANVAS, _roster()[:3])
    archive = mc.zip_folder(subs, tmp_path / "submissions.zip", inside="assignment_export")
    run = _batch(archive, "--out", tmp_path / "out", "--timeout", "1", "-j", "1")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("Found 3 students (Canvas export, in ")
    assert "submissions.zip/assignment_export/)" in run.stdout.splitlines()[0]
    rows = _rows(tmp_path / "out")
    assert find_row(rows, "leeann", "total") == "20"


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the running programs in /proc (Linux)")
def test_ctrl_c_stops_cleanly_and_keeps_what_is_done(tmp_path):
    f = mc.fixture
    students = [mc.Student(f"quick{i}", f("server", "correct_with_blocks"), None) for i in range(2)]
    students += [mc.Student(f"slow{i}", f("batch", "sleeps_before_accept_server"), None) for i in range(6)]
    subs = mc.make_class(tmp_path / "subs", mc.FOLDERS, students)
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "grader", "batch", str(subs), "--out", str(out),
                             "--timeout", "3", "-j", "2"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        # Both of the -j 2 slots hold a slow program: the quick ones are done (on a loaded
        # machine that may take a while, so look instead of sleeping a fixed time).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(_slow_programs_running()) < 2:
            time.sleep(0.05)
        assert len(_slow_programs_running()) == 2
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert "Stopped by Ctrl-C" in stdout and "Traceback" not in stdout + stderr
    rows = _rows(out)
    assert len(rows) == 9  # every student has a row
    assert find_row(rows, "quick0", "status") == "missing"  # graded server, no client
    assert find_row(rows, "quick0", "server_score") == "11"
    assert any(find_row(rows, f"slow{i}", "status") == "error" for i in range(6))
    assert "Ctrl-C" in find_row(rows, "slow5", "reason")
    # Wait for the abandoned gradings' programs to end before the suite's leftover check.
    time.sleep(0.1)


def _slow_programs_running():
    """The graded programs now running whose file is the slow server (the grader runs a copy
    of the file, at a path that is the same inside and outside the sandbox)."""
    slow = []
    for pid in grader_processes():
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as handle:
                copied = handle.read().split(b"\0")[-2]
            if b"time.sleep(3600)" in Path(os.fsdecode(copied)).read_bytes():
                slow.append(pid)
        except (OSError, IndexError):
            continue
    return slow


def test_serial_and_parallel_runs_give_the_same_grades(tmp_path):
    f, S = mc.fixture, mc.Student
    students = [S("a", f("server", "correct_with_blocks"), f("client", "prints_bytes")),
                S("b", f("server", "crash_after_send"), f("client", "correct_with_block")),
                S("c", f("server", "loops_forever_accepting"), f("client", "syntax_error")),
                S("d", f("server", "wrong_message"), f("client", "sleeps_forever"))]
    subs = mc.make_class(tmp_path / "subs", mc.FOLDERS, students)
    _batch(subs, "--out", tmp_path / "serial", "--timeout", "1", "-j", "1")
    _batch(subs, "--out", tmp_path / "parallel", "--timeout", "1")
    assert _rows(tmp_path / "serial") == _rows(tmp_path / "parallel")
