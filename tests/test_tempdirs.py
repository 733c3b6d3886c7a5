"""The grader's temporary folders: named after their owner, swept when the owner is gone, and
removed whatever permissions a student's program set inside them."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from grader.running import tempdirs
from grader.grading import GradeOptions, grade_file

ROOT = Path(__file__).resolve().parent.parent
NOBODY = 65534


@pytest.fixture
def temp_base(tmp_path, monkeypatch):
    base = tmp_path / "tmp"
    base.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(base))
    return base


def _stale_folder(base: Path, kind: str = "run") -> Path:
    """A folder made by a grader process that has since ended (as after a SIGKILL)."""
    code = "from grader.running import tempdirs; print(tempdirs.make(%r))" % kind
    env = dict(os.environ, PYTHONPATH=str(ROOT), TMPDIR=str(base))
    made = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True, timeout=60).stdout.strip()
    (Path(made) / "server.py").write_text("student code\n")
    return Path(made)


def test_a_folder_is_named_after_its_owner(temp_base):
    path = Path(tempdirs.make("run"))
    assert path.parent == temp_base and stat.S_IMODE(path.stat().st_mode) == 0o700
    pid, start, namespace = path.name.split("-")[1:4]
    assert pid == str(os.getpid()) and start.isdigit() and namespace.isdigit()
    tempdirs.remove(str(path))
    assert not path.exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="owners are judged in /proc (Linux)")
def test_sweep_removes_only_folders_whose_owner_is_gone(temp_base):
    stale = _stale_folder(temp_base)
    mine = Path(tempdirs.make("run"))  # this process lives
    pid, start, namespace = mine.name.split("-")[1:4]
    reused_pid = temp_base / f"grader-{pid}-{int(start) + 1}-{namespace}-run-x"  # same PID, later start
    other_namespace = temp_base / f"grader-1-1-{int(namespace) + 1}-run-x"  # cannot be judged
    old_style = temp_base / "grader-run-abc"  # not named by this module: not ours to judge
    for folder in (reused_pid, other_namespace, old_style):
        folder.mkdir()
    outside = temp_base.parent / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("TA file")
    link = temp_base / f"grader-999999-1-{namespace}-run-link"  # a dead owner, but a link
    link.symlink_to(outside, target_is_directory=True)

    assert tempdirs.sweep_stale() == 2
    assert not stale.exists() and not reused_pid.exists()
    assert mine.exists() and other_namespace.exists() and old_style.exists()
    assert link.is_symlink() and (outside / "keep.txt").read_text() == "TA file"
    tempdirs.remove(str(mine))


def test_the_first_folder_a_grader_makes_sweeps_the_stale_ones(temp_base):
    stale = _stale_folder(temp_base)
    fresh = _stale_folder(temp_base, "batch")  # a new grader process: it swept `stale` first
    assert not stale.exists() and fresh.exists()


def test_removal_survives_folders_the_program_locked(tmp_path):
    run = tmp_path / "run"
    for name in ("locked", "read_only"):
        (run / name / "inner").mkdir(parents=True)
        (run / name / "inner" / "data.txt").write_text("x")
        (run / name / "inner" / "data.txt").chmod(0)
    (run / "read_only" / "inner").chmod(0o500)
    (run / "read_only").chmod(0o500)
    (run / "locked" / "inner").chmod(0)
    (run / "locked").chmod(0)
    assert tempdirs.remove(str(run)) and not run.exists()
    assert tempdirs.remove(str(run))  # already gone: fine


def _as_nobody(work) -> int:
    """Run ``work()`` in a forked child that has dropped to the unprivileged user nobody (the
    test interpreter may live where nobody cannot run it, so no exec); its exit status."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 1
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            status = 0 if work() else 2
        finally:
            os._exit(status)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")
def test_removal_as_a_user_who_is_not_root(tmp_path):
    """What a non-root TA meets: a folder its own program made unenterable.  Run as nobody,
    which needs root to become; as another user, this user is already not root."""
    if os.geteuid() != 0:
        pytest.skip("not root, so cannot become nobody; test_removal_survives_folders_the_"
                    "program_locked runs as this (non-root) user instead")
    base = Path(tempfile.mkdtemp(prefix="test-tempdirs-", dir="/tmp"))  # tmp_path: root's only
    try:
        os.chown(base, NOBODY, NOBODY)

        def lock_then(remover):
            def work() -> bool:
                run = base / remover.__name__
                (run / "locked" / "inner").mkdir(parents=True)
                (run / "locked" / "inner" / "data.txt").write_text("x")
                (run / "locked").chmod(0)
                (run / "read_only").mkdir()
                (run / "read_only" / "data.txt").write_text("x")
                (run / "read_only").chmod(0o500)
                remover(str(run))
                return not run.exists()
            return work

        def plain_rmtree(path):
            shutil.rmtree(path, ignore_errors=True)

        assert _as_nobody(lock_then(plain_rmtree)) == 2  # what the grader did before: left behind
        assert _as_nobody(lock_then(tempdirs.remove)) == 0
    finally:
        tempdirs.remove(str(base))  # root: the leftovers of plain_rmtree too


def test_a_program_that_locks_folders_in_its_run_directory_leaves_nothing(temp_base):
    report = grade_file("server", ROOT / "tests/fixtures/batch/locks_its_folder_server.py",
                        GradeOptions(timeout=3))
    assert report.score == report.max_score
    assert list(temp_base.iterdir()) == []
