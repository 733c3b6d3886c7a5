"""Odd student source never crashes the grader's own analysis of it.

The grader parses a student's source itself (is it the blank template? is a file not named .py
Python?).  A source Python cannot parse, or that costs the parser its memory or recursion depth,
is "not analysable": grading goes on and the report comes out.  The sources are built here, not
committed: some are hundreds of kB.
"""
import io
import json
import os
import threading
from pathlib import Path

import pytest

from grader.batch.run import BatchOptions, run_batch
from grader.grading import TEMPLATES, GradeOptions, grade_file, is_blank_template, shadows_socket_module
from grader.running.inputs import InputError, read_program

ODD_SOURCES = {
    "minus": b"x = " + b"-" * 200_000 + b"1\n",  # MemoryError in the parser
    "sum": b"1" + b" + 1" * 200_000 + b"\n",  # RecursionError building the tree
    "small_minus": b"x = " + b"-" * 3_000 + b"1\n",  # RecursionError, and small
    "brackets": b"x = " + b"[" * 100_000 + b"]" * 100_000 + b"\n",  # too deeply nested
    "nul": b"print('hi')\0\n",  # NUL byte: SyntaxError, or ValueError before 3.12
    "latin1": b"print('\xff\xfe')\n",  # not UTF-8
    "warns": b"x = '\\d'\nif x is 'a': pass\n" * 2_000,  # SyntaxWarnings by the thousand
}


@pytest.mark.parametrize("name", sorted(ODD_SOURCES))
def test_analysis_of_odd_source_says_not_a_template(name, capfd):
    for role in ("server", "client"):
        assert is_blank_template(ODD_SOURCES[name], role) is False
    assert capfd.readouterr().err == ""  # the parser's warnings are not printed


def test_the_template_with_changed_comments_is_still_the_template():
    for role in ("server", "client"):
        source = (TEMPLATES / f"{role}.py").read_bytes()
        assert is_blank_template(source, role)
        # Comments, however many, do not count against the size bound.
        assert is_blank_template(b"# my notes\n" * 50_000 + source + b"# done\n", role)
        assert not is_blank_template(source + b"x = 1\n", role)


def test_a_link_loop_beside_the_program_is_not_a_socket_module(tmp_path: Path):
    program = tmp_path / "server.py"
    program.write_text("print('hi')\n")
    if hasattr(os, "symlink"):
        os.symlink("socket.py", tmp_path / "socket.py")  # a link to itself
    assert shadows_socket_module(program) is False


def test_a_py_file_with_nul_bytes_is_graded_and_another_name_is_not_python(tmp_path: Path):
    program = tmp_path / "server.py"
    program.write_bytes(ODD_SOURCES["nul"])
    assert read_program(program) == ODD_SOURCES["nul"]
    renamed = tmp_path / "server.txt"
    renamed.write_bytes(ODD_SOURCES["nul"])
    with pytest.raises(InputError, match="binary data"):
        read_program(renamed)
    picture = tmp_path / "picture.py"  # NUL bytes in what is not text: not a program
    picture.write_bytes(b"\x89PNG\r\n\x1a\n\0\0")
    with pytest.raises(InputError, match="binary data"):
        read_program(picture)


def _compiles(source: bytes) -> bool:
    try:
        compile(source, "x", "exec")
        return True
    except (SyntaxError, MemoryError, RecursionError):
        return False


@pytest.mark.parametrize("name", ["minus", "sum", "small_minus"])
def test_odd_source_under_another_name_is_refused_not_a_crash(tmp_path: Path, name):
    program = tmp_path / "server.txt"
    program.write_bytes(ODD_SOURCES[name])
    if name == "small_minus" and _compiles(ODD_SOURCES[name]):
        # Some parsers take 3,000 minus signs (3.9, 3.13): there it is Python.  (Compiling the
        # two big ones in this process would crash 3.9's compiler, which the grader never does.)
        assert read_program(program) == ODD_SOURCES[name]
        return
    with pytest.raises(InputError, match="not a Python file|not named .py"):
        read_program(program)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_is_refused_at_once(tmp_path: Path):
    pipe = tmp_path / "server.py"
    os.mkfifo(pipe)
    outcome = []

    def read():
        try:
            read_program(pipe)
        except InputError as exc:
            outcome.append(str(exc))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(2)
    if reader.is_alive():  # release the reader stuck in open(), then fail
        os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(2)
        pytest.fail("reading a named pipe waited for a writer")
    assert outcome and "not a regular file" in outcome[0]


@pytest.mark.parametrize("name", ["minus", "sum", "brackets", "nul", "latin1"])
def test_grade_file_reports_on_odd_source(tmp_path: Path, name):
    program = tmp_path / "server.py"
    program.write_bytes(ODD_SOURCES[name])
    report = grade_file("server", program, GradeOptions(timeout=2.0))
    assert report.checks[0].id == "server.runs"
    assert report.score == 0


def test_a_class_of_odd_sources_gets_graded_rows_not_errors(tmp_path: Path):
    subs, out = tmp_path / "class", tmp_path / "out"
    for name in ("minus", "sum", "nul"):
        (subs / name).mkdir(parents=True)
        (subs / name / "server.py").write_bytes(ODD_SOURCES[name])
        (subs / name / "client.py").write_bytes(ODD_SOURCES["latin1" if name == "nul" else name])
    stdout, stderr = io.StringIO(), io.StringIO()
    status = run_batch(subs, BatchOptions(out=out, timeout=2.0, jobs=6), stdout=stdout, stderr=stderr,
                       show_progress=False)
    assert status == 0, stderr.getvalue()
    students = json.loads((out / "results.json").read_text(encoding="utf-8"))["students"]
    assert len(students) == 3
    for student in students:
        for role in ("server", "client"):
            assert student["roles"][role]["state"] == "graded", (student["key"], role)
    assert not (out / "grader-errors.log").exists()
