"""--stress: programs that do and do not survive each less kind counterpart; the score unchanged."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import grader_processes
from grader.__main__ import main
from grader.exercises.default import HELLO_WORLD
from grader.exercises.loader import find_exercise
from grader.grading import GradeOptions, grade_file
from grader.judging.results import Report
from grader.labday.stress import ipv6_loopback

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "reference"
ECHO = find_exercise("echo")
STRESS = GradeOptions(timeout=3.0, stress=True)

SINGLE_RECV_CLIENT = '''import socket
s = socket.socket()
print("Connecting to server...")
s.connect(("localhost", 12345))
print("Waiting for reply...")
print(s.recv(1024).decode())  # one recv(): fine when the message comes in one piece
s.close()
'''

IMPATIENT_CLIENT = SINGLE_RECV_CLIENT.replace(
    'print(s.recv(1024).decode())', 's.settimeout(0.5)\nprint(s.recv(1024).decode())')

IPV6_CLIENT = '''import socket
s = socket.socket(socket.AF_INET6)
print("Connecting to server...")
s.connect(("::1", 12345))
print("Waiting for reply...")
data = b""
while True:
    piece = s.recv(1024)
    if not piece:
        break
    data += piece
print(data.decode())
s.close()
'''

IMPATIENT_SERVER = '''import socket
server = socket.socket()
server.bind(("", 12345))
server.listen(1)
print("Waiting for connection...")
server.settimeout(0.5)  # gives up on a client that takes its time
conn, address = server.accept()
conn.settimeout(None)
print("Connection request accepted!")
conn.sendall(b"Hello World!")
print("Message sent!")
conn.close()
server.close()
'''

# Reads b'' as "the client is gone" and leaves without the message: but a client that shut
# down its sending side still reads.
LEAVES_ON_EOF_SERVER = '''import socket
server = socket.socket()
server.bind(("", 12345))
server.listen(1)
print("Waiting for connection...")
conn, address = server.accept()
print("Connection request accepted!")
conn.settimeout(0.3)
try:
    if not conn.recv(1024):
        conn.close()
        raise SystemExit(0)
except socket.timeout:
    pass
conn.settimeout(None)
conn.sendall(b"Hello World!")
print("Message sent!")
conn.close()
server.close()
'''

LINE_READING_ECHO_SERVER = '''import socket
server = socket.socket()
server.bind(("", 12345))
server.listen(1)
print("Waiting for connection...")
conn, address = server.accept()
print("Connection request accepted!")
data = b""
while not data.endswith(b"\\n"):
    piece = conn.recv(1024)
    if not piece:
        break
    data += piece
conn.sendall(data)
print("Line sent back!")
conn.close()
server.close()
'''


def _write(tmp_path: Path, text: str, name: str = "program.py") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _by_condition(report: Report):
    return {r.condition: r for r in report.robustness}


def _checks(report: Report):
    return [(c.id, c.status, c.points, c.max_points) for c in report.checks]


def test_the_reference_server_survives_every_condition_that_applies():
    report = grade_file("server", REFERENCE / "server.py", STRESS)
    found = _by_condition(report)
    assert {name: r.status for name, r in found.items()} == {
        "pieces": "not applicable",  # Hello World's client sends nothing
        "slow_connect": "survived", "close_first": "survived", "ipv6": "not applicable"}
    assert "client sends nothing" in found["pieces"].reason


def test_the_reference_client_survives_all_but_the_extra_mile():
    report = grade_file("client", REFERENCE / "client.py", STRESS)
    found = _by_condition(report)
    assert found["pieces"].status == "survived"
    assert found["slow_accept"].status == "survived"
    assert found["close_first"].status == "not applicable"
    # IPv4 only, as the handout: ipv6 is said, as missed, and never as a failure.
    assert found["ipv6"].status in ("missed", "not applicable")


@pytest.mark.skipif(not ipv6_loopback(), reason="this computer has no IPv6 loopback")
def test_a_client_speaking_ipv6_survives_the_ipv6_condition(tmp_path):
    report = grade_file("client", _write(tmp_path, IPV6_CLIENT), STRESS)
    assert _by_condition(report)["ipv6"].status == "survived"


def test_a_single_recv_client_fails_the_pieces_with_the_lesson_and_keeps_its_score(tmp_path):
    path = _write(tmp_path, SINGLE_RECV_CLIENT)
    plain = grade_file("client", path, GradeOptions(timeout=3.0))
    stressed = grade_file("client", path, STRESS)
    assert plain.full_marks and stressed.full_marks  # the score is unchanged by --stress
    assert _checks(plain) == _checks(stressed)
    assert plain.robustness == ()
    pieces = _by_condition(stressed)["pieces"]
    assert pieces.status == "failed"
    assert "client.prints_message" in pieces.failed_checks
    assert "keep receiving until the server closes" in pieces.lesson
    assert _by_condition(stressed)["slow_accept"].status == "survived"


def test_a_client_with_a_short_timeout_fails_the_slow_accept(tmp_path):
    report = grade_file("client", _write(tmp_path, IMPATIENT_CLIENT), STRESS)
    assert report.full_marks
    slow = _by_condition(report)["slow_accept"]
    assert slow.status == "failed" and "without a short timeout" in slow.lesson


def test_a_server_with_a_short_accept_timeout_fails_the_slow_connect(tmp_path):
    report = grade_file("server", _write(tmp_path, IMPATIENT_SERVER), STRESS)
    assert report.full_marks
    found = _by_condition(report)
    assert found["slow_connect"].status == "failed"
    assert "accept() waits as long as it takes" in found["slow_connect"].lesson
    assert found["close_first"].status == "survived"


def test_a_server_that_takes_eof_for_goodbye_fails_close_first(tmp_path):
    report = grade_file("server", _write(tmp_path, LEAVES_ON_EOF_SERVER), STRESS)
    assert report.full_marks
    found = _by_condition(report)
    assert found["close_first"].status == "failed"
    assert "server.sends_message" in found["close_first"].failed_checks
    assert "still send the reply" in found["close_first"].lesson
    assert found["slow_connect"].status == "survived"


def test_echo_a_line_in_pieces_needs_a_server_that_reads_to_the_newline(tmp_path):
    # The reference echo server reads once, as the handout does: the lesson shows why that is fragile.
    single = grade_file("server", REFERENCE / "echo" / "server.py", STRESS, exercise=ECHO)
    assert single.full_marks
    assert _by_condition(single)["pieces"].status == "failed"
    looping = grade_file("server", _write(tmp_path, LINE_READING_ECHO_SERVER), STRESS, exercise=ECHO)
    assert looping.full_marks
    assert {r.condition: r.status for r in looping.robustness} == {
        "pieces": "survived", "slow_connect": "survived", "close_first": "survived",
        "ipv6": "not applicable"}


def test_the_echo_reference_client_survives(tmp_path):
    report = grade_file("client", REFERENCE / "echo" / "client.py", STRESS, exercise=ECHO)
    found = _by_condition(report)
    assert found["pieces"].status == "survived" and found["slow_accept"].status == "survived"


def test_the_robustness_section_in_text_and_json(tmp_path, capsys):
    path = _write(tmp_path, SINGLE_RECV_CLIENT)
    assert main(["client", str(path), "--stress", "--timeout", "3"]) == 0  # the score decides
    out = capsys.readouterr().out
    assert out.index("Score:") < out.index("Robustness") and "[FAILED  ] pieces" in out
    assert "lesson: recv() may return part of the message" in out
    report = grade_file("client", path, STRESS)
    assert Report.from_dict(report.to_dict()).robustness == report.robustness
    assert not grader_processes()


UDP = find_exercise("udp_hello")
UDP_REFERENCE = REFERENCE / "udp_hello"
UDP_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "udp_hello"

IMPATIENT_UDP_SERVER = '''import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("", 12345))
print("Waiting for a request...")
s.settimeout(0.2)  # gives up on a request that takes its time
data, address = s.recvfrom(1024)
print("Request received")
s.sendto(b"Hello World!", address)
print("Message sent!")
s.close()
'''

IMPATIENT_UDP_CLIENT = '''import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
print("Sending request...")
s.sendto(b"Hello, server!", ("localhost", 12345))
print("Waiting for reply...")
s.settimeout(0.2)  # gives up on a reply that takes its time
data, address = s.recvfrom(1024)
print(data.decode())
s.close()
'''


def test_the_udp_reference_programs_survive_every_datagram_condition():
    server = grade_file("server", UDP_REFERENCE / "server.py", STRESS, exercise=UDP)
    assert server.full_marks
    assert {r.condition: r.status for r in server.robustness} == {"late_request": "survived"}
    client = grade_file("client", UDP_REFERENCE / "client.py", STRESS, exercise=UDP)
    assert client.full_marks
    assert {r.condition: r.status for r in client.robustness} == {"late_reply": "survived", "other_port": "survived"}
    assert not grader_processes()


def test_a_udp_server_with_a_short_timeout_fails_the_late_request_and_keeps_its_score(tmp_path):
    path = _write(tmp_path, IMPATIENT_UDP_SERVER)
    plain = grade_file("server", path, GradeOptions(timeout=3.0), exercise=UDP)
    stressed = grade_file("server", path, STRESS, exercise=UDP)
    assert plain.full_marks and stressed.full_marks  # the reference client is quick: it passes
    assert _checks(plain) == _checks(stressed)
    late = _by_condition(stressed)["late_request"]
    assert late.status == "failed" and "server.receives" in late.failed_checks
    assert "a UDP server waits for datagrams as long as it takes" in late.lesson


def test_a_udp_client_with_a_short_timeout_fails_the_late_reply_only(tmp_path):
    path = _write(tmp_path, IMPATIENT_UDP_CLIENT)
    plain = grade_file("client", path, GradeOptions(timeout=3.0), exercise=UDP)
    stressed = grade_file("client", path, STRESS, exercise=UDP)
    assert plain.full_marks and _checks(plain) == _checks(stressed)
    found = _by_condition(stressed)
    assert found["late_reply"].status == "failed" and "client.prints_message" in found["late_reply"].failed_checks
    assert "without a short timeout" in found["late_reply"].lesson
    assert found["other_port"].status == "survived"


def test_a_connected_udp_client_misses_the_reply_from_another_port():
    report = grade_file("client", UDP_FIXTURES / "client" / "connect_then_send.py", STRESS, exercise=UDP)
    assert report.full_marks  # connect() + send() is legal in the lab
    found = _by_condition(report)
    assert found["late_reply"].status == "survived"
    other = found["other_port"]
    assert other.status == "missed"  # extra mile: said, never counted as a failure
    assert "client.prints_message" in other.failed_checks and "connected UDP socket" in other.lesson


def test_stress_for_a_datagram_lab_on_the_command_line(tmp_path, capsys):
    path = _write(tmp_path, IMPATIENT_UDP_SERVER)
    assert main(["server", str(path), "--stress", "--exercise", "udp_hello", "--timeout", "3"]) == 0
    out = capsys.readouterr().out
    assert out.index("Score:") < out.index("Robustness") and "[FAILED  ] late_request" in out
    assert not grader_processes()
