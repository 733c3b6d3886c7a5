"""The UDP Hello exercise: datagram steps and their judges, graded end to end.

``tests/test_exercises.py`` runs its self-test (references, templates, every fixture); these
tests say what the self-test cannot: where a check's verdict comes from (the counterpart and the
kernel, never the probe's word alone), the hint of a reply sent to a hard-coded address, and
that grading a TCP lab never loads the datagram judges.
"""
from __future__ import annotations

import copy
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT
from grader.judging.checks import Context, evaluate
from grader.judging.checks.facts import Facts
from grader.exercises.loader import ExerciseError, find_exercise, load_exercise
from grader.grading import grade_file
from grader.judging.results import Status
from grader.running.session import run_session

UDP_HELLO = find_exercise("udp_hello")
REFERENCE = ROOT / "reference" / "udp_hello"


def verdicts(report_or_results):
    checks = getattr(report_or_results, "checks", report_or_results)
    return {c.id.split(".", 1)[1]: c.status.value for c in checks}


def test_the_datagram_steps_make_the_proposed_checks():
    specs = {s.id: s for role in ("server", "client") for s in UDP_HELLO.specs(role)}
    assert [s.id for s in UDP_HELLO.specs("server")] == [
        "server.runs", "server.binds", "server.waiting_printed", "server.receives", "server.received_printed",
        "server.sends_message", "server.replies_to_sender", "server.sent_printed", "server.closes", "server.exits"]
    assert sum(s.points for s in UDP_HELLO.specs("server")) == 12
    assert sum(s.points for s in UDP_HELLO.specs("client")) == 9
    # Each line judged against its neighbouring datagram steps; a client's first line before the
    # sendto() that starts the exchange.
    assert specs["server.waiting_printed"].description == \
        'It prints "Waiting for a request..." before calling recvfrom()'
    assert specs["server.received_printed"].description == \
        'It prints "Request received" after recvfrom() returned the request'
    assert specs["client.sending_printed"].description == 'It prints "Sending request..." before calling sendto()'
    assert specs["client.waiting_printed"].description == \
        'It prints "Waiting for reply..." after sending the request and before the first recvfrom()'
    # What needs what: everything after the exchange starts needs it, but the message is judged
    # wherever it went.
    assert specs["server.received_printed"].requires == ("server.receives",)
    assert specs["server.replies_to_sender"].requires == ("server.receives",)
    assert specs["server.sends_message"].requires == ()
    assert specs["client.prints_message"].requires == ("client.sends_request",)
    assert "counterpart" in specs["server.sends_message"].evidence
    assert "kernel" in specs["server.closes"].evidence


@pytest.mark.parametrize("steps, says", [
    ('{"server": [{"kind": "listen", "check": "server.listens"}], "client": []}', "kind 'listen'"),
    ('{"server": [{"kind": "sendto", "check": "server.s", "data": "echo"}], "client": []}', "sendto step"),
])
def test_a_datagram_exercise_takes_only_datagram_steps(tmp_path, steps, says):
    (tmp_path / "exercise.json").write_text('{"name": "x", "message": "m", "transport": "udp", "steps": %s}' % steps)
    with pytest.raises(ExerciseError, match=says):
        load_exercise(str(tmp_path))


def test_a_tcp_exercise_refuses_a_datagram_step(tmp_path):
    (tmp_path / "exercise.json").write_text(
        '{"name": "x", "message": "m", "steps": {"server": [{"kind": "recvfrom"}], "client": []}}')
    with pytest.raises(ExerciseError, match="kind 'recvfrom'"):
        load_exercise(str(tmp_path))


def test_a_reply_to_a_hard_coded_address_fails_only_replies_to_sender_and_names_it(tmp_path):
    server = tmp_path / "server.py"
    server.write_text(textwrap.dedent('''\
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("", 23456))
        print("Waiting for a request...")
        data, address = s.recvfrom(1024)
        print("Request received")
        s.sendto(b"Hello World!", ("127.0.0.1", 40404))
        print("Message sent!")
        s.close()
        '''))
    report = grade_file("server", server, exercise=UDP_HELLO)
    failed = [c for c in report.checks if c.status is not Status.PASSED]
    assert [c.id for c in failed] == ["server.replies_to_sender"], verdicts(report)
    assert "('127.0.0.1', 40404)" in failed[0].hint and "recvfrom() returned" in failed[0].hint


def test_a_server_that_never_closes_fails_closes_on_the_kernels_word(tmp_path):
    server = tmp_path / "server.py"
    server.write_text(textwrap.dedent('''\
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("", 23457))
        print("Waiting for a request...")
        data, address = s.recvfrom(1024)
        print("Request received")
        s.sendto(b"Hello World!", address)
        print("Message sent!")
        kept = s  # still held when the program is done
        '''))
    report = grade_file("server", server, exercise=UDP_HELLO)
    assert [c.id for c in report.checks if c.status is not Status.PASSED] == ["server.closes"]
    closes = next(c for c in report.checks if c.id == "server.closes")
    assert "close()" in closes.hint and "connect" not in closes.hint  # datagram advice, not TCP's


# -- the evidence rules: the probe's word alone passes nothing that rests on the counterpart or the
# kernel.  A real session of the reference program, then what the counterpart or kernel saw taken away.

@pytest.fixture(scope="module")
def server_trace():
    return run_session("server", REFERENCE / "server.py", UDP_HELLO, b"Hello World!", 5.0, transport="udp")


@pytest.fixture(scope="module")
def client_trace():
    return run_session("client", REFERENCE / "client.py", UDP_HELLO, b"Hello World!", 5.0, transport="udp")


def judged(role, trace, **seen_changes):
    seen = copy.copy(trace.datagrams)
    for name, value in seen_changes.items():
        setattr(seen, name, value)
    return verdicts(evaluate(Context(role, UDP_HELLO, Facts.of(trace._replace(datagrams=seen)))))


def test_the_reference_sessions_pass_everything(server_trace, client_trace):
    assert set(judged("server", server_trace).values()) == {"passed"}
    assert set(judged("client", client_trace).values()) == {"passed"}


def test_a_reply_the_counterpart_never_received_passes_nothing_sent(server_trace):
    # The probe still logs the sendto() of "Hello World!" to the client's address.
    got = judged("server", server_trace, received=[], elsewhere=[])
    assert got["sends_message"] == "failed" and got["replies_to_sender"] == "failed"
    assert got["receives"] == "passed"


def test_a_socket_the_kernel_does_not_show_as_the_programs_is_not_bound(server_trace):
    got = judged("server", server_trace, program_socket=0)
    assert got["binds"] == "failed" and got["receives"] == "failed"


def test_a_request_the_counterpart_never_sent_was_not_received(server_trace):
    got = judged("server", server_trace, sent=[])
    assert got["receives"] == "failed" and got["received_printed"] == "skipped"


def test_close_rests_on_the_kernel(server_trace):
    socket_inode = server_trace.datagrams.program_socket
    held = server_trace._replace(open_at_end=frozenset({socket_inode}))
    assert verdicts(evaluate(Context("server", UDP_HELLO, Facts.of(held))))["closes"] == "failed"
    unknown = server_trace._replace(open_at_end=None)
    assert verdicts(evaluate(Context("server", UDP_HELLO, Facts.of(unknown))))["closes"] == "skipped"


def test_a_printed_reply_the_server_never_sent_does_not_pass(client_trace):
    # The probe shows recvfrom() returning the message and the console shows it printed, but the
    # reference server sent nothing: the line proves nothing.
    got = judged("client", client_trace, sent=[])
    assert got["prints_message"] == "failed"
    got = judged("client", client_trace, received=[])
    assert got["sends_request"] == "failed"


def test_grading_a_tcp_lab_never_loads_the_datagram_judges():
    code = textwrap.dedent('''\
        import sys
        from grader.grading import grade_file
        report = grade_file("server", %r)
        assert report.score == report.max_score, report
        print("grader.judging.checks.datagram" in sys.modules)
        ''' % str(ROOT / "reference" / "server.py"))
    out = subprocess.run([sys.executable, "-c", code], cwd=str(ROOT), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_the_command_line_grades_the_udp_reference_with_full_marks_and_shows_the_datagrams():
    out = subprocess.run([sys.executable, "-m", "grader", "server", str(REFERENCE / "server.py"),
                          "--exercise", "udp_hello", "--verbose"],
                         cwd=str(ROOT), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Score: 12/12" in out.stdout
    assert "reference client  sent b'Hello, server!'" in out.stdout
    assert "reference client  received b'Hello World!'" in out.stdout
