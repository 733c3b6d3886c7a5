"""Pair mode: a student's server against a student's client, and the verdict on who broke it."""
from __future__ import annotations

import time
from pathlib import Path

from conftest import FIXTURES, grader_processes
from grader.__main__ import main
from grader.exercises.default import HELLO_WORLD
from grader.exercises.loader import find_exercise
from grader.labday.pair import explain, run_pair

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "reference"
ECHO = find_exercise("echo")

RECV_FIRST_SERVER = '''import socket
s = socket.socket()
s.bind(("", 12345))
s.listen(1)
conn, _ = s.accept()
data = conn.recv(1024)  # waits for the client to speak first: in this lab it never does
conn.sendall(b"Hello World!")
conn.close()
'''

NO_DECODE_CLIENT = '''import socket
s = socket.socket()
s.connect(("localhost", 12345))
print(s.recv(1024))
s.close()
'''

SILENT_SERVER = '''import socket
s = socket.socket()
s.bind(("", 12345))
s.listen(1)
conn, _ = s.accept()
conn.close()
'''

CHUNKED_SERVER = '''import socket, time
s = socket.socket()
s.bind(("", 12345))
s.listen(1)
conn, _ = s.accept()
for ch in b"Hello World!":
    conn.sendall(bytes([ch]))
    time.sleep(0.05)
conn.close()
'''

SINGLE_RECV_CLIENT = '''import socket
s = socket.socket()
s.connect(("localhost", 12345))
print(s.recv(1024).decode())
s.close()
'''

WRONG_ECHO_SERVER = '''import socket
s = socket.socket()
s.bind(("", 12345))
s.listen(1)
conn, _ = s.accept()
conn.recv(1024)
conn.sendall(b"Something else\\n")
conn.close()
'''


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _pair(server, client, exercise=HELLO_WORLD, limit=3.0):
    run = run_pair(server, client, exercise, limit)
    return run, explain(run, exercise)


def test_the_reference_pair_matches_and_the_timeline_holds_both_programs():
    run, result = _pair(REFERENCE / "server.py", REFERENCE / "client.py")
    assert result.matched, result.verdict
    assert "printed Hello World!" in result.verdict[0]
    assert {who for _, who, _ in result.timeline} == {"server", "client"}
    times = [t for t, _, _ in result.timeline]
    assert times == sorted(times)
    assert any("12 bytes b'Hello World!'" in line for line in result.crossed)
    assert run.ended_because == "both programs ended"


def test_the_echo_reference_pair_matches():
    _, result = _pair(REFERENCE / "echo" / "server.py", REFERENCE / "echo" / "client.py", ECHO)
    assert result.matched, result.verdict
    assert any(line.startswith("client -> server: the client sent") and "Echo me" in line
               for line in result.crossed)


def test_a_client_printing_bytes_is_told_it_did_not_decode():
    _, result = _pair(REFERENCE / "server.py", FIXTURES / "client" / "prints_bytes.py")
    assert not result.matched
    assert "printed b'Hello World!' because it did not decode" in result.verdict[0]


def test_a_written_client_that_does_not_decode(tmp_path):
    _, result = _pair(REFERENCE / "server.py", _write(tmp_path, "client.py", NO_DECODE_CLIENT))
    assert not result.matched and "did not decode" in result.verdict[0]


def test_both_waiting_in_recv_is_a_deadlock_found_before_the_time_limit(tmp_path):
    server = _write(tmp_path, "server.py", RECV_FIRST_SERVER)
    began = time.monotonic()
    run, result = _pair(server, FIXTURES / "client" / "prints_bytes.py", limit=8.0)
    assert time.monotonic() - began < 6.0  # found, not waited out
    assert run.ended_because == "deadlock"
    assert "both wait for the other (deadlock)" in result.verdict[0]
    assert "the server sends first" in result.verdict[0]
    assert run.server.stopped_because and run.client.stopped_because


def test_a_server_that_never_sends(tmp_path):
    _, result = _pair(_write(tmp_path, "server.py", SILENT_SERVER), REFERENCE / "client.py")
    assert not result.matched
    assert result.verdict[0] == "the server never sent the message"


def test_a_client_with_one_recv_gets_part_of_a_message_sent_in_pieces(tmp_path):
    _, result = _pair(_write(tmp_path, "server.py", CHUNKED_SERVER),
                      _write(tmp_path, "client.py", SINGLE_RECV_CLIENT))
    assert not result.matched
    assert "received only b'H'" in result.verdict[0]
    assert "keep receiving" in result.verdict[0]


def test_an_echo_server_sending_something_else_is_named(tmp_path):
    _, result = _pair(_write(tmp_path, "server.py", WRONG_ECHO_SERVER),
                      REFERENCE / "echo" / "client.py", ECHO)
    assert not result.matched
    assert "sends back the line it received" in result.verdict[1]


def test_a_server_that_never_listens_leaves_the_client_unstarted(tmp_path):
    server = _write(tmp_path, "server.py", "raise SystemExit('no server today')\n")
    run, result = _pair(server, REFERENCE / "client.py")
    assert "the server never listened" in result.verdict[0]
    assert run.client.events == []


def test_a_program_that_never_ends_is_stopped_at_the_limit(tmp_path):
    client = _write(tmp_path, "client.py", "import time\nwhile True:\n    time.sleep(0.1)\n")
    began = time.monotonic()
    run, result = _pair(REFERENCE / "server.py", client, limit=1.0)
    assert time.monotonic() - began < 12.0
    assert run.client.stopped_because == "time limit"
    assert "never connected" in result.verdict[0]
    assert not grader_processes()


def test_the_command_line_exit_codes(tmp_path, capsys):
    assert main(["pair", str(REFERENCE / "server.py"), str(REFERENCE / "client.py")]) == 0
    out = capsys.readouterr().out
    assert "Timeline" in out and "Verdict:" in out and "server |" in out and "client |" in out
    assert main(["pair", str(REFERENCE / "server.py"), str(FIXTURES / "client" / "prints_bytes.py")]) == 1
    capsys.readouterr()
    assert main(["pair", str(tmp_path / "missing.py"), str(REFERENCE / "client.py")]) == 2
    assert main(["pair", "--exercise", "no-such-lab", str(REFERENCE / "server.py"),
                 str(REFERENCE / "client.py")]) == 2


UDP = find_exercise("udp_hello")
UDP_REFERENCE = REFERENCE / "udp_hello"
UDP_FIXTURES = FIXTURES / "udp_hello"


def _udp_pair(server, client, limit=3.0):
    from grader.labday.pair_udp import explain_datagrams

    run = run_pair(server, client, UDP, limit)
    return run, explain_datagrams(run, UDP)


def test_the_udp_reference_pair_matches_and_shows_the_datagrams_each_way():
    run, result = _udp_pair(UDP_REFERENCE / "server.py", UDP_REFERENCE / "client.py")
    assert result.matched, result.verdict
    assert run.transport == "udp" and run.ended_because == "both programs ended"
    assert "printed Hello World!" in result.verdict[0]
    request, reply = result.crossed[:2]
    assert request.startswith("client -> server") and "14 bytes b'Hello, server!'" in request
    assert "addressed to ('localhost', 12345)" in request  # what the program wrote
    assert reply.startswith("server -> client") and "the client received 12 bytes b'Hello World!'" in reply
    assert len(result.crossed) == 2 and run.elsewhere == ()  # nothing went astray
    assert {who for _, who, _ in result.timeline} == {"server", "client"}
    assert not grader_processes()


def test_a_udp_server_replying_to_a_hard_coded_address_is_told_where_the_reply_went():
    run, result = _udp_pair(UDP_FIXTURES / "server" / "hardcoded_reply_address.py", UDP_REFERENCE / "client.py")
    assert not result.matched
    assert "replied to ('localhost', 12346), not to the address the request came from" in result.verdict[0]
    assert "the reply went elsewhere" in result.verdict[0]
    assert any(line.startswith("server -> elsewhere") for line in result.crossed)
    assert [data for data, _ in run.elsewhere] == [b"Hello World!"]  # it arrived there, not at the client


def test_a_udp_client_printing_bytes_did_not_decode():
    _, result = _udp_pair(UDP_REFERENCE / "server.py", UDP_FIXTURES / "client" / "prints_bytes.py")
    assert not result.matched
    assert "printed b'Hello World!' because it did not decode" in result.verdict[0]


def test_a_udp_client_receiving_before_sending_is_a_deadlock_found_at_once():
    began = time.monotonic()
    run, result = _udp_pair(UDP_REFERENCE / "server.py", UDP_FIXTURES / "client" / "receives_before_sending.py",
                            limit=8.0)
    assert time.monotonic() - began < 6.0  # found, not waited out
    assert run.ended_because == "deadlock"
    assert "both wait for the other (deadlock)" in result.verdict[0]
    assert "the client must send its request first" in result.verdict[0]
    assert run.server.stopped_because and run.client.stopped_because


def test_a_udp_client_with_a_small_buffer_gets_a_cut_reply():
    _, result = _udp_pair(UDP_REFERENCE / "server.py", UDP_FIXTURES / "client" / "buffer_too_small.py")
    assert not result.matched
    assert "recvfrom(5) buffer was too small and it got only b'Hello'" in result.verdict[0]


def test_a_udp_server_that_never_binds_or_listens_over_tcp_leaves_the_client_unstarted():
    for name, said in (("no_bind.py", "never bound a UDP socket"), ("stream_socket.py", "made a TCP socket")):
        began = time.monotonic()
        run, result = _udp_pair(UDP_FIXTURES / "server" / name, UDP_REFERENCE / "client.py", limit=8.0)
        assert said in result.verdict[0], result.verdict
        assert run.client.events == []
        assert time.monotonic() - began < 6.0  # blocked with no client possible: stopped at once


def test_a_udp_request_that_never_reaches_recvfrom(tmp_path):
    server = _write(tmp_path, "server.py", "import socket, time\ns = socket.socket(socket.AF_INET, "
                    "socket.SOCK_DGRAM)\ns.bind(('', 12345))\ntime.sleep(0.3)\ns.close()\n")
    _, result = _udp_pair(server, UDP_REFERENCE / "client.py", limit=3.0)
    assert "the server never called recvfrom() to receive it" in result.verdict[0]


def test_a_udp_client_waiting_after_the_server_ended_is_stopped(tmp_path):
    server = _write(tmp_path, "server.py", "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                    "s.bind(('', 12345))\ndata, addr = s.recvfrom(1024)\ns.close()\n")
    began = time.monotonic()
    run, result = _udp_pair(server, UDP_REFERENCE / "client.py", limit=8.0)
    assert time.monotonic() - began < 6.0
    assert run.ended_because.startswith("the server ended; the client waits")
    assert "received b'Hello, server!' but never sent a reply" in result.verdict[0]


def test_the_command_line_for_a_datagram_pair(capsys):
    assert main(["pair", "--exercise", "udp_hello", str(UDP_REFERENCE / "server.py"),
                 str(UDP_REFERENCE / "client.py")]) == 0
    out = capsys.readouterr().out
    assert "The datagrams that crossed:" in out and "The conversation matches the exercise." in out
    assert main(["pair", "--exercise", "udp_hello", str(UDP_FIXTURES / "server" / "hardcoded_reply_address.py"),
                 str(UDP_REFERENCE / "client.py")]) == 1
    assert not grader_processes()


LOOPING_SERVER = '''import socket
s = socket.socket()
s.bind(("", 12345))
s.listen(5)
while True:  # serves client after client, as real servers do
    conn, _ = s.accept()
    conn.sendall(b"Hello World!")
    conn.close()
'''


def test_a_server_serving_forever_is_stopped_once_the_client_is_done(tmp_path):
    began = time.monotonic()
    run, result = _pair(_write(tmp_path, "server.py", LOOPING_SERVER), REFERENCE / "client.py", limit=8.0)
    assert time.monotonic() - began < 6.0  # not the time limit
    assert run.ended_because == "the client ended; the server waits for another client"
    assert result.matched, result.verdict
    assert run.server.stopped_because and not run.client.stopped_because


def test_an_echo_client_that_waits_before_sending_deadlocks_with_the_echo_server():
    run, result = _pair(REFERENCE / "echo" / "server.py",
                        FIXTURES / "echo" / "client" / "recv_before_sending.py", ECHO, limit=8.0)
    assert run.ended_because == "deadlock"
    assert "both wait for the other (deadlock); in this lab the client sends first" in result.verdict[0], result.crossed
    assert not grader_processes()


IPV6_SERVER = '''import socket
s = socket.socket(socket.AF_INET6)
s.bind(("::", 12345))
s.listen(1)
conn, _ = s.accept()
conn.sendall(b"Hello World!")
conn.close()
'''


def test_an_ipv6_server_meets_an_ipv6_client_and_an_ipv4_client_is_told_why_not(tmp_path):
    from grader.labday.stress import ipv6_loopback

    if not ipv6_loopback():
        import pytest
        pytest.skip("this computer has no IPv6 loopback")
    server = _write(tmp_path, "server.py", IPV6_SERVER)
    _, result = _pair(server, FIXTURES / "client" / "ipv6_client.py")
    assert result.matched, result.verdict
    _, result = _pair(server, REFERENCE / "client.py")
    assert not result.matched
    assert result.verdict[0].startswith("the client could not connect")
    assert "an IPv4 client (socket.socket()) cannot go there" in result.verdict[1]
