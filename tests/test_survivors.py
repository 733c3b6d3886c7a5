"""Without the sandbox, no process a program starts survives its grading (issue 9).

A program can clear its environment (no marker), leave its session and lose its parent (a fast
fork chain, a detached daemon): on Linux the grader is a child subreaper, so those orphans
come to it, and it stops them, counts them in the report, and reaps them.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import List

import pytest

from conftest import ROOT, TEST_SESSION
from grader.running import processes
from grader.grading import GradeOptions, grade_file
from test_containment import grade_contained, hostile, private_tmp  # noqa: F401 (fixtures)

pytestmark = pytest.mark.skipif(not processes.IS_LINUX, reason="the subreaper is Linux's")
SESSION = TEST_SESSION.split("=", 1)[1]


def tagged(tag: str) -> List[int]:
    """Live processes whose command line carries ``tag`` (their environment is empty)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as handle:
                    if tag.encode() in handle.read().split(b"\0"):
                        stat = processes._stat(int(entry))
                        if stat is not None and not stat[2]:
                            found.append(int(entry))
            except OSError:
                continue
    return found


def survivors(tag: str) -> List[int]:
    """Live processes carrying ``tag``, killed so that a failing test leaves nothing behind."""
    found = tagged(tag)
    for pid in found:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return found


def zombie_children() -> List[int]:
    return [pid for pid in processes._children_of_self() if (processes._stat(pid) or (0, 0, False))[2]]


def stopped_note(report) -> int:
    notes = [n for n in report.notes if "your program started were still running and were stopped" in n]
    assert notes, report.notes
    return int(notes[0].split()[0])


@pytest.fixture
def heartbeat(tmp_path, monkeypatch):
    """A file every link of the fork chain grows; removing it stops a chain that survived."""
    path = tmp_path / "heartbeat"
    monkeypatch.setenv("GRADER_TEST_HEARTBEAT", str(path))
    yield path
    if path.exists():
        path.unlink()


def chain_survived(heartbeat) -> bool:
    """Whether the chain still grows its heartbeat (a search of /proc misses its links: each
    is alive for an instant)."""
    before = heartbeat.stat().st_size if heartbeat.exists() else 0
    time.sleep(0.2)
    return (heartbeat.stat().st_size if heartbeat.exists() else 0) != before


def test_a_fast_fork_chain_without_marker_or_session_is_stopped_and_counted(heartbeat):
    zombies = len(zombie_children())
    report = grade_contained(hostile("fork_chain"))
    assert heartbeat.stat().st_size > 10  # the chain did run
    assert not chain_survived(heartbeat)
    assert stopped_note(report) >= 1
    assert len(zombie_children()) <= zombies  # the orphans it inherited are reaped


def test_a_daemon_with_a_cleared_environment_is_stopped_and_counted():
    report = grade_contained(hostile("env_cleared_daemon"))
    assert survivors("grader-daemon-" + SESSION) == []
    assert stopped_note(report) == 1


def test_another_grading_at_the_same_time_is_not_disturbed(heartbeat):
    # A batch grades in threads: stopping one program's orphans must not touch another's
    # processes (they are the grader's children too).
    reports = {}

    def grade(name, path, timeout):
        reports[name] = grade_file("server", path, GradeOptions(timeout=timeout))

    honest = threading.Thread(target=grade, args=("reference", ROOT / "reference" / "server.py", 5.0))
    honest.start()
    grade("chain", hostile("fork_chain").path, 5.0)
    honest.join(30)
    assert reports["reference"].full_marks
    assert not chain_survived(heartbeat)


def test_a_child_the_grader_started_itself_is_never_taken_for_an_orphan():
    # Marker-less, in a session of its own, like an escaped orphan: registered, it is left alone.
    processes.become_subreaper()
    with processes.spawning() as register:
        own = subprocess.Popen([sys.executable, "-I", "-S", "-c", "import time; time.sleep(30)"],
                               env={}, start_new_session=True, stdin=subprocess.DEVNULL)
        register(own)
    try:
        report = grade_contained(hostile("env_cleared_daemon"))
        assert stopped_note(report) == 1
        assert own.poll() is None
    finally:
        own.kill()
        own.wait(5)
    survivors("grader-daemon-" + SESSION)
