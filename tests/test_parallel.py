"""Never flaky: gradings at the same time with the same hard-coded port, and re-runs, all agree."""
from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor

from conftest import FIXTURES, ROOT, parse_fixture
from grader.grading import GradeOptions, grade_file

# Eight different servers, every one of them hard-coding port 12345.
SAME_PORT = ["correct_with_blocks", "loops_forever_accepting", "never_closes", "wrong_message",
             "recv_before_send", "prints_out_of_order", "sends_in_pieces", "closes_listening_only"]


def _verdicts(report):
    return {c.id: c.status.value for c in report.checks}


def test_eight_servers_with_the_same_port_graded_at_once_get_their_own_verdicts():
    fixtures = [parse_fixture("server", FIXTURES / "server" / (name + ".py")) for name in SAME_PORT]
    for fixture in fixtures:
        assert "12345" in fixture.path.read_text()
    with ThreadPoolExecutor(len(fixtures)) as pool:
        reports = list(pool.map(lambda f: grade_file("server", f.path, GradeOptions()), fixtures))
    for fixture, report in zip(fixtures, reports):
        assert _verdicts(report) == fixture.expect, fixture.name


def test_the_same_program_graded_twenty_times_gets_the_same_verdict():
    path = FIXTURES / "server" / "recv_after_send.py"
    expected = parse_fixture("server", path).expect
    for _ in range(20):
        assert _verdicts(grade_file("server", path)) == expected


def test_a_port_taken_on_this_machine_does_not_matter():
    blocker = socket.socket()
    try:
        blocker.bind(("127.0.0.1", 12345))
        blocker.listen(1)
    except OSError:
        pass  # already taken by someone else: the point holds all the more
    try:
        assert grade_file("server", ROOT / "reference" / "server.py").full_marks
        assert grade_file("client", ROOT / "reference" / "client.py").full_marks
    finally:
        blocker.close()
