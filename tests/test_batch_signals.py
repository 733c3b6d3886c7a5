"""A batch stopped by SIGTERM writes what it finished and leaves nothing behind; one killed
by SIGKILL leaves folders that the next grader run removes.

Real ``python -m grader batch`` processes, unsandboxed (so a program the grader failed to stop
would really survive it), with their temporary directory redirected to the test's own folder.
"""
import csv
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_batch_support import find_row, load_make_class

mc = load_make_class()
ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the programs in /proc (Linux)")


def _class(tmp_path: Path) -> Path:
    f = mc.fixture
    students = [mc.Student(f"quick{i}", f("server", "correct_with_blocks"), None) for i in range(2)]
    students += [mc.Student(f"slow{i}", f("batch", "sleeps_before_accept_server"), None) for i in range(4)]
    return mc.make_class(tmp_path / "subs", mc.FOLDERS, students)


def _env(temp: Path) -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT), TMPDIR=str(temp))


def _start_batch(tmp_path: Path, temp: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "grader", "batch", str(_class(tmp_path)), "--out", str(tmp_path / "out"),
         "--timeout", "3", "-j", "2", "--no-sandbox"],
        cwd=ROOT, env=_env(temp), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL)


def _programs_in(temp: Path):
    """PIDs of live processes whose working directory is in ``temp`` (the graded programs)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
            with open(f"/proc/{entry}/stat", "rb") as handle:
                state = handle.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if cwd.startswith(str(temp) + os.sep) and state != b"Z":
            found.append(int(entry))
    return found


def _wait_for(condition, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _slow(pid: int) -> bool:
    """Whether the program is the slow fixture (the grader runs a copy of the file)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            copy = Path(os.fsdecode(handle.read().split(b"\0")[-2]))
        return b"time.sleep(3600)" in copy.read_bytes()
    except (OSError, IndexError):
        return False


def _both_slots_hold_a_slow_program(temp: Path, proc: subprocess.Popen) -> None:
    # -j 2: once two programs sit in the slow fixture's sleep, the quick ones are done.
    assert _wait_for(lambda: sum(map(_slow, _programs_in(temp))) == 2 or proc.poll() is not None)
    assert proc.poll() is None, proc.communicate()


def _stop(proc: subprocess.Popen, temp: Path) -> None:
    """Whatever happened, leave nothing running: the grader, and programs it left behind."""
    if proc.poll() is None:
        proc.kill()
        proc.communicate()
    survivors = _programs_in(temp)
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert _wait_for(lambda: _programs_in(temp) == [])
    assert proc.returncode is not None


def _rows(out: Path):
    return list(csv.reader(io.StringIO((out / "grades.csv").read_text(encoding="utf-8-sig"))))


def test_sigterm_stops_like_ctrl_c_keeps_what_is_done_and_leaves_nothing(tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    proc = _start_batch(tmp_path, temp)
    try:
        _both_slots_hold_a_slow_program(temp, proc)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
        survivors = _programs_in(temp)  # before _stop below would end them
    finally:
        _stop(proc, temp)
    assert proc.returncode == 130, stderr  # what Ctrl-C gives
    assert "Stopped by Ctrl-C or SIGTERM" in stdout and "Traceback" not in stdout + stderr
    rows = _rows(tmp_path / "out")
    assert len(rows) == 7  # every student has a row
    assert find_row(rows, "quick1", "server_score") == "11"
    assert "SIGTERM" in find_row(rows, "slow3", "reason")
    for name in ("results.json", "report.html", "feedback/slow0.txt"):
        assert (tmp_path / "out" / name).is_file()
    # By the time the grader has exited, its programs are stopped and its folders removed.
    assert survivors == []
    assert list(temp.iterdir()) == []


def test_after_sigkill_the_next_run_removes_what_the_killed_one_left(tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    proc = _start_batch(tmp_path, temp)
    try:
        _both_slots_hold_a_slow_program(temp, proc)
        proc.kill()  # nothing of the grader runs after this
        proc.communicate(timeout=30)
    finally:
        # Unsandboxed, its programs outlive it; stop them as a TA would (the sandbox would have).
        _stop(proc, temp)
    left = sorted(p.name for p in temp.iterdir())
    assert any("-run-" in name for name in left) and all(n.startswith("grader-") for n in left)

    again = subprocess.run([sys.executable, "-m", "grader", "server",
                            str(mc.fixture("server", "correct_with_blocks"))],
                           cwd=ROOT, env=_env(temp), capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert list(temp.iterdir()) == []
