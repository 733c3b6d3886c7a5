"""Gradescope's containment: a program that forges results.json, kills the grader and leaves a
detached rewriter (tests/fixtures/hostile/gradescope_forges_results.py) gets the grader's
results, never its own, and nothing of it survives.

The grader runs as a separate process against a fake /autograder folder, like Gradescope runs
it: as root, with the student's programs as a spare uid; and as a user who is not root (as
root: a second spare uid; otherwise ourselves), where only the grader's process discipline
holds (the program can write anything that user can, but the file left is still ours).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from grader.integrations.gradescope import contain
from test_gradescope import AS_ROOT, ROOT, python_for, spare_uid

pytestmark = pytest.mark.skipif(not contain.IS_LINUX, reason="Gradescope runs Linux containers")

FORGER = ROOT / "tests" / "fixtures" / "hostile" / "gradescope_forges_results.py"
SUPERVISE = ("import sys; from grader.integrations.gradescope.run import run_in_gradescope; "
             "sys.exit(run_in_gradescope(sys.argv[1], student=sys.argv[2] or None, "
             "sandbox=sys.argv[3] == 'sandbox'))")


@pytest.fixture
def place():
    """A fake /autograder that every user can reach, with results/ open to all (the worst
    Gradescope could hand us), and a folder where the program notes what it tried."""
    base = Path(tempfile.mkdtemp(prefix="grader-gs-test-"))
    try:
        os.chmod(base, 0o755)
        root, trace = base / "autograder", base / "trace"
        for folder in (root / "submission", root / "results", trace):
            folder.mkdir(parents=True)
        for folder in (root / "results", trace):
            os.chmod(folder, 0o777)
        yield root, trace / "attempts.txt"
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _submit_forger(root: Path, trace: Path) -> bytes:
    source = FORGER.read_text(encoding="utf-8")
    source = source.replace('RESULTS = "/autograder/results/results.json"',
                            "RESULTS = %r" % str(root / "results" / "results.json"))
    source = source.replace('TRACE = ""', "TRACE = %r" % str(trace))
    (root / "submission" / "server.py").write_text(source, encoding="utf-8")
    return source.encode()


def _grade(root: Path, student: str, run_as: int = -1, sandbox: bool = False):
    python = python_for(run_as if run_as >= 0 else int(student or os.getuid()))
    extra = {"user": run_as, "group": run_as, "extra_groups": []} if run_as >= 0 else {}
    return subprocess.run([python, "-c", SUPERVISE, str(root), student,
                           "sandbox" if sandbox else ""],
                          cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, **extra)


def _attempts(trace: Path) -> dict:
    lines = trace.read_text().splitlines() if trace.exists() else []
    return dict(line.rsplit(" ", 1) for line in lines)


def _assert_the_grade_is_ours(root: Path, attempts: dict, source: bytes, writer: int) -> None:
    results = root / "results" / "results.json"
    first = results.read_bytes()
    data = json.loads(first)
    assert "FORGED" not in first.decode() and data["score"] == 0  # its honest twin's score
    assert sorted(p.name for p in (root / "results").iterdir()) == ["results.json"]
    assert not results.is_symlink() and results.stat().st_uid == writer
    assert (root / "submission" / "server.py").read_bytes() == source
    rewriter = int(attempts["rewriter"])
    assert not os.path.exists("/proc/%d" % rewriter) or \
        open("/proc/%d/stat" % rewriter).read().rpartition(")")[2].split()[0] == "Z"
    time.sleep(0.2)  # a rewriter still alive would have rewritten it by now
    assert results.read_bytes() == first


@pytest.mark.skipif(not AS_ROOT, reason="running programs as another user needs root")
def test_as_root_the_program_runs_as_the_student_and_can_neither_forge_nor_kill(place):
    root, trace = place
    source = _submit_forger(root, trace)
    uid = spare_uid()
    run = _grade(root, str(uid))
    assert run.returncode == 0, run.stdout + run.stderr
    attempts = _attempts(trace)
    assert attempts["forge"] == "PermissionError" and attempts["forge again"] == "PermissionError"
    assert attempts["kill parent"] == "PermissionError"  # the grader is root's: out of its reach
    _assert_the_grade_is_ours(root, attempts, source, writer=0)
    data = json.loads((root / "results" / "results.json").read_text())
    assert len(data["tests"]) == 16 and "server.runs" in data["output"]  # graded, not an error
    assert contain.processes_of(uid) == []
    info = os.stat(root / "results")
    assert (info.st_uid, info.st_mode & 0o777) == (0, 0o755)  # locked before the program ran


def test_as_another_user_a_killed_grader_still_writes_its_own_results(place):
    """Not root: the program can kill the grading process and write the file, yet the file
    left is the grader's error result, and the detached rewriter is stopped before it."""
    root, trace = place
    run_as = -1
    if AS_ROOT:
        run_as = spare_uid()
        for path in [root.parent, root] + [p for p in root.rglob("*")]:
            os.chown(path, run_as, run_as)
    source = _submit_forger(root, trace)
    run = _grade(root, "", run_as=run_as)
    assert run.returncode == 0, run.stdout + run.stderr
    attempts = _attempts(trace)
    assert attempts["forge"] == "wrote" and attempts["kill parent"] == "done"  # it did both
    _assert_the_grade_is_ours(root, attempts, source, writer=run_as if AS_ROOT else os.getuid())
    data = json.loads((root / "results" / "results.json").read_text())
    assert data["tests"] == [] and "stopped before it finished" in data["output"]
    assert "killed by signal 9" in run.stdout
    if AS_ROOT:
        assert contain.processes_of(run_as) == []


def test_in_the_sandbox_the_results_folder_is_not_even_there(place):
    from grader.running import sandbox

    available, reason = sandbox.available()
    if not available:
        pytest.skip("no sandbox here: %s" % reason)
    root, trace = place
    source = _submit_forger(root, trace)
    run = _grade(root, str(spare_uid()) if AS_ROOT else "", sandbox=True)
    assert run.returncode == 0, run.stdout + run.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    assert "FORGED" not in json.dumps(data) and data["score"] == 0 and len(data["tests"]) == 16
    assert (root / "submission" / "server.py").read_bytes() == source
