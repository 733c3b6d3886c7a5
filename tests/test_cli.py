"""The command line: exit codes, formats, options, and a clear message for every bad input."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import FIXTURES, ROOT
from grader import __main__ as cli

EXERCISE_CHECKS = {
    "server": ["server.runs", "server.listens", "server.waiting_printed", "server.accepts",
               "server.accepted_printed", "server.sends_message", "server.sent_printed",
               "server.closes", "server.exits"],
    "client": ["client.runs", "client.connecting_printed", "client.connects", "client.waiting_printed",
               "client.prints_message", "client.closes", "client.exits"],
}


def grader(*args, cwd=ROOT):
    env = dict(os.environ, NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "grader", *map(str, args)], cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("role", ["server", "client"])
def test_reference_gets_full_marks_and_exit_0(role):
    result = grader(role, "reference/%s.py" % role)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all checks passed" in result.stdout
    assert result.stdout.count("PASS") == len(EXERCISE_CHECKS[role])


@pytest.mark.parametrize("sandbox", [False, True])
def test_the_command_leaves_no_temporary_files(tmp_path, sandbox):
    # It exits without the interpreter's teardown: its runs' folders and what it registered for
    # removal at exit (the sandbox's compiled init) must be gone all the same.
    from grader.running import sandbox as sandboxing

    if sandbox and not sandboxing.available()[0]:
        pytest.skip("no sandbox here: %s" % sandboxing.available()[1])
    env = dict(os.environ, NO_COLOR="1", TMPDIR=str(tmp_path))
    args = ["client", "reference/client.py"] + (["--sandbox"] if sandbox else [])
    result = subprocess.run([sys.executable, "-m", "grader", *args], cwd=ROOT, env=env,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("role", ["server", "client"])
def test_json_report_has_the_documented_fields(role):
    result = grader(role, "reference/%s.py" % role, "--format", "json")
    data = json.loads(result.stdout)
    assert data["role"] == role and data["file"].endswith("%s.py" % role)
    assert data["score"] == data["max_score"] > 0
    assert [c["id"] for c in data["checks"]] == EXERCISE_CHECKS[role]
    for check in data["checks"]:
        assert set(check) >= {"id", "description", "status", "points", "max_points", "expected",
                              "actual", "hint"}
        assert check["status"] == "passed"
    assert "Waiting" in data["stdout"] and isinstance(data["stderr"], str)
    assert data["duration"] > 0


@pytest.mark.parametrize("role", ["server", "client"])
def test_blank_template_scores_zero_with_a_clean_report(role):
    result = grader(role, "student_template/%s.py" % role, "--format", "json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["score"] == 0
    statuses = {c["id"]: c["status"] for c in data["checks"]}
    assert statuses.pop(role + ".runs") == "failed"
    assert set(statuses.values()) == {"skipped"}
    assert "blank template" in data["checks"][0]["hint"]
    text = grader(role, "student_template/%s.py" % role)
    assert "Traceback" not in text.stdout + text.stderr


def test_verbose_shows_the_timeline_and_what_was_requested():
    result = grader("server", FIXTURES / "server" / "lan_ip_bind.py", "--verbose")
    assert "Timeline" in result.stdout
    assert "accept() returned" in result.stdout
    assert "('192.168.1.23', 5000)" in result.stdout


def test_strict_demands_the_exact_text():
    path = FIXTURES / "server" / "tolerant_wording.py"
    tolerant = json.loads(grader("server", path, "--format", "json").stdout)
    strict = json.loads(grader("server", path, "--format", "json", "--strict").stdout)
    lines = ["server.waiting_printed", "server.accepted_printed", "server.sent_printed"]
    assert all(c["status"] == "passed" and c["notes"] for c in tolerant["checks"] if c["id"] in lines)
    assert all(c["status"] == "failed" for c in strict["checks"] if c["id"] in lines)


def test_a_failed_check_exits_1_and_explains():
    result = grader("client", FIXTURES / "client" / "prints_bytes.py")
    assert result.returncode == 1
    assert "expected:" in result.stdout and "happened:" in result.stdout and "decode" in result.stdout


def test_the_students_own_traceback_is_shown_trimmed_to_their_file():
    result = grader("server", FIXTURES / "server" / "send_str.py")
    assert "send_str.py\", line" in result.stdout
    assert "bootstrap" not in result.stdout and "-run-" not in result.stdout  # no temporary copy
    assert "TypeError" in result.stdout


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp / "missing.py", "There is no file"),
    (lambda tmp: tmp, "is a folder"),
    (lambda tmp: _write(tmp / "empty.py", b"  \n"), "is empty"),
    (lambda tmp: _write(tmp / "picture.py", b"\x89PNG\r\n\x1a\n\0\0"), "not a Python file"),
    (lambda tmp: _write(tmp / "essay.txt", b"My server sends Hello World to the client."), "not a Python file"),
    (lambda tmp: _write(tmp / "lab.ipynb", b'{"cells": []}'), "Jupyter notebook"),
])
def test_bad_input_gets_a_clear_message_and_exit_2(tmp_path, make, message):
    result = grader("server", make(tmp_path))
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_python_saved_under_another_name_is_graded(tmp_path):
    path = _write(tmp_path / "server.py.txt", (ROOT / "reference" / "server.py").read_bytes())
    assert grader("server", path).returncode == 0


@pytest.mark.parametrize("args", [["teacher", "x.py"], ["server"], ["server", "x.py", "--timeout", "soon"],
                                  ["server", "x.py", "--format", "pdf"]])
def test_bad_usage_exits_2(args):
    result = grader(*args)
    assert result.returncode == 2
    assert "usage:" in result.stderr and "Traceback" not in result.stderr


def test_a_grader_bug_exits_3_without_a_traceback(monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("grader.grading.grade_file", broken)
    monkeypatch.delenv("GRADER_DEBUG", raising=False)
    assert cli.main(["server", str(ROOT / "reference" / "server.py")]) == 3
    err = capsys.readouterr().err
    assert "internal error" in err and "not in your program" in err and "Traceback" not in err


def _write(path, data: bytes):
    path.write_bytes(data)
    return path
