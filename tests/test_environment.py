"""A student's program gets a minimal environment: nothing of the TA's (issue 9).

The grader's environment holds secrets (tokens, cloud keys); a program that prints its
environment, or raises an exception carrying it into the report, must find none of them,
with or without the sandbox, while an honest program and the reference still pass.
"""
from __future__ import annotations

import os
import uuid

import pytest

from conftest import ROOT
from grader.running import environment, launch, limits, sandbox
from grader.grading import GradeOptions, grade_file
from grader.report import RENDERERS, render
from test_containment import grade_contained, hostile, private_tmp  # noqa: F401 (fixtures)

SANDBOX_AVAILABLE, WHY_NOT = sandbox.available()
MODES = [False, pytest.param(True, marks=pytest.mark.skipif(not SANDBOX_AVAILABLE, reason=WHY_NOT))]


@pytest.fixture
def secrets(monkeypatch):
    """Secrets in the grader's environment, each unique to this test."""
    values = {"FAKE_SECRET_TOKEN": "tok-" + uuid.uuid4().hex,
              "AWS_SECRET_ACCESS_KEY": "aws-" + uuid.uuid4().hex,
              "PYTHONPATH": "/pythonpath-" + uuid.uuid4().hex}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    # A fork server started before these existed would hide a leak of the server's own
    # environment: start a new one, with them.
    monkeypatch.setattr(sandbox, "_SERVER", [])
    yield list(values.values())
    if sandbox._SERVER:
        sandbox._SERVER[0].close()


def _everything_shown(report) -> str:
    return "\n".join([report.stdout, report.stderr] +
                     [render(fmt, [report], verbose=True) for fmt in RENDERERS])


@pytest.mark.parametrize("sandboxed", MODES)
@pytest.mark.parametrize("name", ["prints_environment", "raises_environment"])
def test_no_secret_of_the_grader_reaches_the_report(secrets, name, sandboxed):
    fixture = hostile(name)
    report = grade_contained(fixture, lambda f: grade_file(
        f.role, f.path, GradeOptions(timeout=f.timeout, sandbox=sandboxed)))
    shown = _everything_shown(report)
    assert "GRADER_RUN_ID" in shown  # the program's environment is really in the report
    for secret in secrets:
        assert secret not in shown


@pytest.mark.parametrize("sandboxed", MODES)
def test_home_and_temporary_folder_are_the_run_s_own(secrets, sandboxed):
    report = grade_file("server", hostile("prints_environment").path, GradeOptions(sandbox=sandboxed))
    variables = dict(line.split("=", 1) for line in report.stdout.splitlines() if "=" in line)
    folders = report.stdout.splitlines()[-1].split()
    assert folders[0::2] == ["home", "temp", "cwd"]
    assert len(set(folders[1::2])) == 1 and "-run-" in folders[1]
    assert variables["HOME"] == variables["TMPDIR"] == folders[1]
    assert variables["PATH"] == os.environ["PATH"]
    assert not {"PYTHONPATH", "FAKE_SECRET_TOKEN", "AWS_SECRET_ACCESS_KEY"} & set(variables)


@pytest.mark.parametrize("sandboxed", MODES)
@pytest.mark.parametrize("role", ["server", "client"])
def test_the_reference_still_gets_full_marks(secrets, role, sandboxed):
    path = ROOT / "reference" / ("%s.py" % role)
    report = grade_file(role, path, GradeOptions(sandbox=sandboxed))
    assert report.full_marks, render("text", [report], verbose=True)


def test_the_environment_keeps_what_python_needs_and_nothing_else(monkeypatch):
    for name, value in {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC", "GITHUB_TOKEN": "x",
                        "PYTHONHOME": "/elsewhere", "PYTHONSTARTUP": "/x.py", "VIRTUAL_ENV": "/venv",
                        "LD_PRELOAD": "/evil.so", "SSH_AUTH_SOCK": "/agent"}.items():
        monkeypatch.setenv(name, value)
    env = environment.program_environment("/run/dir", "4 5", "marker")
    assert {"PATH", "LANG", "LC_ALL", "TZ"} <= set(env)
    assert not {"GITHUB_TOKEN", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "LD_PRELOAD",
                "SSH_AUTH_SOCK"} & set(env)
    assert env["GRADER_PROBE"] == "4 5" and env["GRADER_RUN_ID"] == "marker"
    if os.name != "nt":
        assert env["HOME"] == env["TMPDIR"] == "/run/dir"


@pytest.mark.skipif(not SANDBOX_AVAILABLE, reason=WHY_NOT)
def test_the_fork_server_holds_no_secret_either(secrets):
    server = sandbox._fork_server()
    with open("/proc/%d/environ" % server.process.pid, "rb") as handle:
        environ = handle.read().decode("utf-8", "replace")
    assert environ and "PATH=" in environ
    for secret in secrets:
        assert secret not in environ


# -- the run's directory is capped (bytes and files) ----------------------------------------------

@pytest.mark.parametrize("name, said", [("writes_many_files", "created more than 1000 files"),
                                        ("writes_100_mb_in_files", "wrote more than 64 MB")])
def test_without_the_sandbox_a_program_past_the_disk_caps_is_stopped(name, said):
    fixture = hostile(name)
    started = []

    def grade(f):
        started.append(launch.start_program(f.path))
        return grade_file(f.role, f.path, GradeOptions(timeout=f.timeout), started=started)

    report = grade_contained(fixture, grade)
    assert said in started[0].disk_watch.exceeded
    # Stopped: left alone it would sleep and end with status 0 (it may have written it all
    # between two looks), and the report says why, in the check and in a note.
    assert report.check("server.runs").actual == "it was stopped because it " + started[0].disk_watch.exceeded
    assert any(said in note for note in report.notes)


@pytest.mark.skipif(not SANDBOX_AVAILABLE, reason=WHY_NOT)
@pytest.mark.parametrize("name", ["writes_many_files", "writes_100_mb_in_files"])
def test_in_the_sandbox_writing_past_the_disk_caps_is_no_space_left(name):
    report = grade_contained(hostile(name), lambda f: grade_file(
        f.role, f.path, GradeOptions(timeout=f.timeout, sandbox=True)))
    assert "No space left on device" in report.check("server.runs").actual
    assert "wrote " not in report.stdout


def test_an_honest_program_is_not_stopped_by_the_disk_watch():
    path = ROOT / "reference" / "server.py"
    started = [launch.start_program(path)]
    report = grade_file("server", path, started=started)
    assert report.full_marks and started[0].disk_watch.exceeded == ""


def test_a_look_at_the_directory_costs_at_most_the_cap(tmp_path):
    for i in range(50):
        (tmp_path / ("f%d" % i)).write_bytes(b"x" * 10)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "g").write_bytes(b"y" * 5)
    assert limits.disk_use(str(tmp_path)) == (505, 52)
    assert limits.disk_use(str(tmp_path), max_entries=10)[1] == 11  # stops counting past the cap
    assert limits.over_limit((limits.DISK_LIMIT + 1, 1)).startswith("wrote more than")
    assert limits.over_limit((0, limits.FILE_LIMIT)) == ""
    assert limits.disk_use(str(tmp_path / "gone")) is None
