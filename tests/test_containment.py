"""Hostile programs (tests/fixtures/hostile/) are contained without the sandbox.

For each: grading ends in bounded time, no process the program started survives, nothing
changes outside its temporary directory, and the grade is the one its docstring declares.
Fixtures marked ``sandbox=only`` are run only by tests/test_sandbox.py: unsandboxed they would
really write, read and kill on this machine.
"""
from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List

import pytest

from conftest import FIXTURES, ROOT, Fixture, grader_processes, parse_fixture
from grader.running import processes
from grader.grading import GradeOptions, grade_file
from grader.report import render
from grader.running.runner import ProgramRun
from grader.running.session import STARTUP_ALLOWANCE

HOSTILE = FIXTURES / "hostile"
# Seconds on top of a fixture's time limit: the session's allowance for the interpreter's start
# on a loaded machine, and clean-up.  The point is a bound, not speed (bench/ measures that).
SLACK = STARTUP_ALLOWANCE + 3.0


def hostile(name: str) -> Fixture:
    path = HOSTILE / (name + ".py")
    options = re.search(r"^options: (.*)$", path.read_text(encoding="utf-8"), re.M).group(1)
    return parse_fixture(dict(o.split("=") for o in options.split())["role"], path)


def sandbox_only(name: str) -> bool:
    return "sandbox=only" in (HOSTILE / (name + ".py")).read_text(encoding="utf-8")


ALL = sorted(p.stem for p in HOSTILE.glob("*.py"))
# Fixtures with a test of their own below (which also asserts containment) are not run twice.
DEDICATED = {"endless_output", "long_line", "invalid_utf8", "forks_children", "setsid_daemon",
             "allocates_4gb", "burns_cpu", "writes_big_file", "waits_for_input", "floods_event_channel",
             "fake_events", "unhooks_socket", "prints_without_receiving", "floods_keyed_events",
             "forges_listen_with_key"}
UNSANDBOXED = [n for n in ALL if not sandbox_only(n) and n not in DEDICATED]


def _fingerprint(folders: List[Path]) -> Dict[str, str]:
    """Every file under ``folders`` with a hash of its content."""
    seen = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                seen[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return seen


@pytest.fixture(autouse=True)
def private_tmp(tmp_path, monkeypatch):
    """The grader's temporary directories go here, apart from other gradings on the machine."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def _run_dirs() -> set:
    return set(Path(tempfile.gettempdir()).glob("grader-*"))


def grade_contained(fixture: Fixture, grade=None):
    """Grade ``fixture`` and assert what holds for every hostile program; returns the report."""
    grade = grade or (lambda f: grade_file(f.role, f.path, GradeOptions(timeout=f.timeout)))
    # Folders nobody edits while the suite runs (grader/ may be open in a developer's editor).
    watched = [HOSTILE, ROOT / "reference", ROOT / "student_template"]
    before, dirs_before = _fingerprint(watched), _run_dirs()
    started = time.monotonic()
    report = grade(fixture)
    elapsed = time.monotonic() - started
    assert elapsed < fixture.timeout + SLACK, "grading took %.1f s" % elapsed
    assert grader_processes() == [], "processes of the program survived"
    assert _fingerprint(watched) == before, "a file outside the program's directory changed"
    assert _run_dirs() == dirs_before, "the temporary directory was not removed"
    verdicts = {c.id: c.status.value for c in report.checks}
    assert verdicts == fixture.expect, render("text", [report], verbose=True)
    for check_id, fragments in fixture.hints.items():
        text = " ".join(filter(None, (report.check(check_id).hint, report.check(check_id).actual)))
        assert all(f in text for f in fragments), text
    return report


@pytest.fixture
def foreign_server():
    """A server on loopback that is not the reference counterpart (another student's, say):
    it sends the lab's message to whoever connects and counts them."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.1)
    reached = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, address = listener.accept()
            except OSError:
                continue
            reached.append(address)
            with conn:
                conn.sendall(b"Hello World!")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    os.environ["GRADER_TEST_FOREIGN_PORT"] = str(listener.getsockname()[1])
    try:
        yield reached
    finally:
        del os.environ["GRADER_TEST_FOREIGN_PORT"]
        stop.set()
        thread.join(2)
        listener.close()


def test_every_fixture_is_tested():
    assert DEDICATED <= set(ALL) and UNSANDBOXED


@pytest.mark.parametrize("name", UNSANDBOXED)
def test_hostile_program_is_contained(name):
    grade_contained(hostile(name))


def test_endless_output_is_capped_and_counted():
    report = grade_contained(hostile("endless_output"))
    assert len(report.stdout.encode()) <= 1 << 20
    assert any("were dropped" in note for note in report.notes)
    assert report.stopped_because == "time limit"


def test_a_50_mb_line_is_cut_and_the_program_still_ends():
    report = grade_contained(hostile("long_line"))
    # 1 MiB captured; the report quotes its first 16 KiB and says how much there was.
    shown, _, cut = report.stdout.partition("\n[... output cut here: ")
    assert set(shown) == {"x"} and len(shown) == 1 << 14 and "of 1,048,576 characters" in cut
    assert report.stopped_because is None and report.exit_status == 0


def test_output_that_is_not_utf8_is_shown_not_fatal():
    report = grade_contained(hostile("invalid_utf8"))
    assert report.score == report.max_score
    assert "\ufffd" in report.stdout and "\ufffd" in report.stderr
    for fmt in ("text", "json"):
        assert "Hello World!" in render(fmt, [report], verbose=True)


def test_every_forked_child_is_stopped_and_counted():
    report = grade_contained(hostile("forks_children"))
    assert "100 process(es) your program started were still running and were stopped" in report.notes


def test_a_setsid_daemon_is_stopped_and_its_port_closed():
    report = grade_contained(hostile("setsid_daemon"))
    port = int(re.search(r"daemon port (\d+)", report.stdout).group(1))
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


def test_4_gb_fail_under_the_memory_limit():
    report = grade_contained(hostile("allocates_4gb"))
    assert "MemoryError" in report.check("server.runs").actual


def test_a_cpu_burner_is_stopped_at_the_time_limit():
    report = grade_contained(hostile("burns_cpu"))
    assert report.stopped_because == "time limit"


def test_the_cpu_limit_kills_a_burner_by_itself():
    """The CPU rlimit, without the session's wall clock: 1 s of CPU, then SIGXCPU/SIGKILL."""
    def configure(event):
        if event["kind"] == "hello":
            program.configure({"role": "server", "hold": 10, "cpu": 1})

    program = ProgramRun(HOSTILE / "burns_cpu.py", on_event=configure)
    program.start()
    try:
        status = program.wait(timeout=8.0)
    finally:
        output = program.finish()
    assert status in (-signal.SIGXCPU, -signal.SIGKILL), output


def test_the_file_size_limit_stops_a_big_write_and_the_directory_goes():
    report = grade_contained(hostile("writes_big_file"))
    workdir = re.search(r"cwd (\S+)", report.stdout).group(1)
    # A fresh directory: the copy of the program's folder (README policy 5), and nothing else.
    assert "holds %r" % sorted(p.name for p in HOSTILE.iterdir() if p.name != "__pycache__") in report.stdout
    assert not os.path.exists(workdir)


def test_input_fails_at_once():
    report = grade_contained(hostile("waits_for_input"))
    assert report.stopped_because is None  # it ended by itself, long before its time limit
    assert report.duration < hostile("waits_for_input").timeout


def test_a_flooded_event_channel_costs_bounded_time():
    report = grade_contained(hostile("floods_event_channel"))
    assert report.stopped_because is None  # its real end still got through


def test_fake_events_do_not_send_the_reference_client_to_another_server(foreign_server):
    report = grade_contained(hostile("fake_events"))
    assert foreign_server == []
    for check_id in ("server.accepts", "server.sends_message", "server.closes"):
        assert report.check(check_id).points == 0


def test_a_keyed_listen_event_does_not_send_the_reference_client_to_another_server(foreign_server):
    report = grade_contained(hostile("forges_listen_with_key"))
    assert foreign_server == []  # the kernel showed no socket of the program listening there
    assert "no socket of your program was listening" in report.check("server.listens").actual


def test_unhooked_sockets_earn_nothing_from_another_server(foreign_server):
    report = grade_contained(hostile("unhooks_socket"))
    assert foreign_server  # it really reached the other server...
    assert report.check("client.connects").points == 0  # ...which is not the reference server
    assert report.check("client.prints_message").points == 0


def test_printing_both_messages_without_receiving_earns_no_message_point():
    report = grade_file("client", HOSTILE / "prints_without_receiving.py", GradeOptions(timeout=2))
    assert report.check("client.prints_message").points == 0


def test_the_grader_stays_small_on_floods():
    """Peak memory of a fresh grader process over the flooding fixtures, in MiB."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a process started from a big
    # pytest would report pytest's own resident size (seen in CI: 256 MiB for a 40 MiB grader).
    code = ("import sys\n"
            "from grader.grading import GradeOptions, grade_file\n"
            "def peak():\n"
            "    with open('/proc/self/status') as f:\n"
            "        return next(int(l.split()[1]) for l in f if l.startswith('VmHWM')) // 1024\n"
            "for name in sys.argv[1:]:\n"
            "    grade_file('server', name, GradeOptions(timeout=2))\n"
            "    print(name.rsplit('/', 1)[-1], peak())\n"
            "print(peak())\n")
    names = [str(HOSTILE / (n + ".py")) for n in ("long_line", "endless_output", "floods_event_channel",
                                                  "floods_keyed_events")]
    result = subprocess.run([sys.executable, "-c", code] + names, cwd=ROOT, capture_output=True,
                            text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split()[-1]) < 100, result.stdout


def test_kill_tree_counts_what_ran_and_leaves_nothing():
    marker = "test-%d" % os.getpid()
    env = dict(os.environ, **{processes.MARKER_VARIABLE: marker})
    code = ("import os, time\n"
            "for _ in range(3):\n"
            "    if os.fork() == 0:\n"
            "        os.setsid(); time.sleep(60)\n"
            "print('ready', flush=True); time.sleep(60)\n")
    process = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, **processes.popen_kwargs([]))
    assert process.stdout.readline() == b"ready\n"
    killed = processes.kill_tree(process, marker)
    process.stdout.close()
    assert len(killed) == 3 and process.pid not in killed
    assert grader_processes() == []
