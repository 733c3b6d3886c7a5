"""Programs started before the grading that adopts them (what the command line does)."""
from __future__ import annotations

import os
import time

import pytest

from conftest import FIXTURES, ROOT
from grader.exercises.default import ROLES
from grader.grading import grade_file
from grader.running.launch import RUNS, start_program


def test_every_role_says_how_many_runs_it_takes():
    assert tuple(RUNS) == ROLES


@pytest.mark.parametrize("role", ROLES)
def test_a_grading_adopts_runs_started_before_it(role):
    started = [start_program(ROOT / "reference" / ("%s.py" % role)) for _ in range(RUNS[role])]
    report = grade_file(role, ROOT / "reference" / ("%s.py" % role), started=started)
    assert report.full_marks
    for run in started:
        assert run.adopted and run.process.poll() is not None
        assert not os.path.exists(run.workdir)


def test_started_runs_a_grading_cannot_use_are_stopped_and_removed():
    path = FIXTURES / "client" / "sleeps_forever.py"
    started = [start_program(path)]  # a client grading takes two
    with pytest.raises(ValueError):
        grade_file("client", path, started=started)
    run = started[0]
    deadline = time.monotonic() + 5
    while run.process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert run.process.poll() is not None
    assert not os.path.exists(run.workdir)


def test_a_started_program_waits_for_its_session():
    # The probe says hello and waits for its configuration: until a session adopts it, the
    # student's code has not run (no output), so starting early changes nothing it does.
    run = start_program(FIXTURES / "client" / "sleeps_forever.py")
    try:
        time.sleep(0.5)
        assert run.process.poll() is None
        os.set_blocking(run.process.stdout.fileno(), False)
        assert run.process.stdout.read() is None  # nothing printed yet
    finally:
        run.discard()
    assert run.process.poll() is not None and not os.path.exists(run.workdir)


@pytest.mark.parametrize("sandbox", [False, True])
@pytest.mark.parametrize("name", ["correct_with_blocks", "crash_after_send", "syntax_error", "python2_print"])
def test_a_program_under_the_compiled_probe_gets_the_same_report(monkeypatch, name, sandbox):
    # What batch mode runs: the probe compiled once for all programs, in a folder of its own
    # that a sandboxed program must see too.
    from grader.running import probe, sandbox as sandboxing
    from grader.grading import GradeOptions

    if sandbox and not sandboxing.available()[0]:
        pytest.skip("no sandbox here: %s" % sandboxing.available()[1])
    path = FIXTURES / "server" / ("%s.py" % name)
    options = GradeOptions(sandbox=sandbox)
    plain = grade_file("server", path, options)
    monkeypatch.setattr(probe, "_COMPILED", {})
    probe.compile_probe()
    assert probe.probe_script().endswith(".pyc")
    compiled = grade_file("server", path, options)
    assert [(c.id, c.status, c.hint) for c in compiled.checks] == [(c.id, c.status, c.hint) for c in plain.checks]
    assert (compiled.stdout, compiled.stderr) == (plain.stdout, plain.stderr)
