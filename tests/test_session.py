"""When a session ends and why: the verdict must not depend on how long the grader waits."""
from __future__ import annotations

import pytest

from conftest import FIXTURES, parse_fixture
from grader.grading import GradeOptions, grade_file


def test_a_finished_program_is_not_stopped_by_the_limit_while_the_counterpart_waits():
    # never_closes finishes at once, then the reference client waits up to the grace (1 s) for
    # an end of stream that cannot come: that wait must not become a time-limit failure.
    path = FIXTURES / "server" / "never_closes.py"
    report = grade_file("server", path, GradeOptions(timeout=0.5))
    assert report.stopped_because is None
    assert {c.id: c.status.value for c in report.checks} == parse_fixture("server", path).expect


def test_a_program_still_running_at_the_limit_is_stopped_for_it():
    report = grade_file("client", FIXTURES / "client" / "sleeps_forever.py", GradeOptions(timeout=0.5))
    assert report.stopped_because == "time limit"
    assert report.check("client.exits").status.value == "failed"
    assert report.check("client.prints_message").passed  # graded on what it did before


EXITS_WITH = '''import atexit, socket, sys
atexit.register(lambda: print("goodbye from atexit"))
s = socket.socket()
print("Connecting to server...")
s.connect(("localhost", 12345))
print("Waiting for reply...")
print(s.recv(1024).decode())
s.close()
sys.exit(%s)
'''


@pytest.mark.parametrize("code, status", [("0", 0), ("3", 3), ("256 + 7", 7), ("2 ** 100", 255)])
def test_a_program_ends_as_under_python_itself(tmp_path, code, status):
    # The probe skips the interpreter's teardown when the program ends: its atexit functions
    # must still run, their output still be captured, and the exit status be Python's own.
    path = tmp_path / "client.py"
    path.write_text(EXITS_WITH % code)
    report = grade_file("client", path)
    assert report.stdout.rstrip().endswith("goodbye from atexit")
    assert report.exit_status == status
    assert report.check("client.exits").passed == (status == 0)


@pytest.mark.parametrize("role", ["server", "client"])
def test_a_grader_with_many_files_open_still_configures_its_program(role):
    # In a batch the grader holds many files, so a program's channel can be numbered past
    # select()'s limit of 1023; the probe must still get its configuration (for a client, where
    # to connect), or the grade would depend on -j.
    from conftest import ROOT, descriptors_taken_past

    with descriptors_taken_past(1100):
        report = grade_file(role, ROOT / "reference" / ("%s.py" % role))
    assert report.full_marks, [(c.id, c.actual) for c in report.checks if not c.passed]


def _judged(role, events, peer, stopped_because=None, exit_status=0, source=b""):
    """The checks' outcomes on a made-up trace (for causes a real run reaches only rarely)."""
    from grader.judging.checks import Context
    from grader.judging.checks.facts import Facts
    from grader.exercises.default import HELLO_WORLD
    from grader.running.runner import CapturedStream, RunOutput
    from grader.running.session import Trace

    output = RunOutput(CapturedStream("", 0), CapturedStream("", 0), exit_status, 0, 0)
    trace = Trace(role=role, message=b"Hello World!", events=events, peer=peer, output=output,
                  finished_status=None, exit_status=exit_status, stopped_because=stopped_because,
                  started_at=0.0, duration=1.0, time_limit=5.0, main_pid=1)
    return Context(role=role, exercise=HELLO_WORLD, facts=Facts.of(trace), source=source, file="x.py")


def test_a_server_stuck_in_recv_after_sending_is_not_told_to_send_first():
    from grader.judging import hints
    from grader.judging.checks import common
    from grader.running.peers import Observation
    from grader.running.session import STALLED_RECV

    peer = Observation()
    peer.connected, peer.received, peer.received_total, peer.ended = True, b"Hello World!", 12, "stopped"
    outcome = common.exits(_judged("server", [], peer, STALLED_RECV, None))
    assert outcome.hint == hints.WAITS_AFTER_SENDING
    peer.received, peer.received_total = b"", 0
    assert common.exits(_judged("server", [], peer, STALLED_RECV, None)).hint == hints.WAITS_FOR_CLIENT


@pytest.mark.parametrize("source, fragment", [
    (b"# caf\xe9\nx = 1\n", "UTF-8"),  # an accented letter saved in Latin-1
    (b"if 1:\n        x = 1\n\ty = 2\n", "spaces only"),  # TabError
    (b"x = 1\n    y = 2\n", "indentation"),  # IndentationError
    (b'p = "C:\\Users\\me"\n', "backslash"),  # a Windows path in a plain string
])
def test_an_error_python_refuses_the_file_for_gets_a_hint_that_fits(tmp_path, source, fragment):
    # Python's own message, as python3 FILE prints it: not "missing bracket, quote or colon".
    import subprocess
    import sys

    from grader.judging import hints

    path = tmp_path / "prog.py"
    path.write_bytes(source)
    last = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          timeout=20).stderr.strip().splitlines()[-1]
    error, message = last.split(": ", 1)
    hint = hints.for_error(error, message)
    assert hint and fragment.lower() in hint.lower() and "bracket" not in hint


def test_a_spinning_program_is_stopped_on_time_beside_cpu_burners():
    """Policy: the time limit holds within 0.5 s under load (two bounded CPU burners beside a
    program that spins until it is stopped), counted from when its code started."""
    import subprocess
    import sys
    import time
    from pathlib import Path

    from grader.exercises.default import HELLO_WORLD
    from grader.running.session import STOPPED_TIME_LIMIT, run_session

    burn = "import time\nend = time.monotonic() + 15\nwhile time.monotonic() < end:\n    pass\n"
    burners = [subprocess.Popen([sys.executable, "-c", burn], stdin=subprocess.DEVNULL) for _ in range(2)]
    try:
        source = Path(__file__).parent / "fixtures" / "hostile" / "burns_cpu.py"
        for _ in range(2):
            trace = run_session("server", source, HELLO_WORLD, b"Hello World!", 1.0)
            late = time.monotonic() - trace.started_at - 1.0
            assert trace.stopped_because == STOPPED_TIME_LIMIT and late < 0.5, late
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
