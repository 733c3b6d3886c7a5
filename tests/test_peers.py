"""The reference counterparts exchange arbitrary messages in arbitrary pieces, and say how the
connection ended; end to end, the grader follows the exercise's message."""
from __future__ import annotations

import socket
import string
import threading
import time

from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import ROOT
from grader.exercises.default import HELLO_WORLD
from grader.grading import grade_file
from grader.running.peers import ReferenceClient, ReferenceServer

messages = st.binary(min_size=1, max_size=3000)
printable = st.text(alphabet=string.ascii_letters + string.digits + " !?.,", min_size=1, max_size=40) \
    .map(str.strip).filter(bool)


def _split(data: bytes, cuts):
    points = sorted({c % len(data) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])]


def _program_server(pieces, ready: threading.Event, box: dict):
    """Plays a student's server on loopback: accept, send the pieces, close."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    box["address"] = listener.getsockname()
    ready.set()
    listener.settimeout(5)
    conn, _ = listener.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for piece in pieces:
        conn.sendall(piece)
    conn.close()
    listener.close()


@settings(max_examples=40, deadline=None)
@given(messages, st.lists(st.integers(0, 10_000), max_size=8))
def test_reference_client_receives_any_message_in_any_pieces(message, cuts):
    ready, box, done = threading.Event(), {}, threading.Event()
    program = threading.Thread(target=_program_server, args=(_split(message, cuts), ready, box))
    program.start()
    assert ready.wait(5)
    client = ReferenceClient(box["address"], socket.AF_INET, time.monotonic() + 5, lambda: True, done.set)
    client.start()
    program.join(5)
    client.join(5)
    obs = client.observation
    assert obs.received == message
    assert obs.received_total == len(message) == sum(obs.pieces)
    assert obs.ended == "eof" and obs.closed_by_program


@settings(max_examples=40, deadline=None)
@given(messages, st.lists(st.integers(1, 64), min_size=1, max_size=5))
def test_reference_server_sends_any_message_and_sees_the_close(message, sizes):
    alive = {"value": True}
    server = ReferenceServer(message, time.monotonic() + 5, lambda: alive["value"], lambda: None)
    server.start()
    received = b""
    with socket.create_connection(server.address, timeout=5) as sock:
        for size in iter(lambda: sizes[len(received) % len(sizes)], None):
            data = sock.recv(size)
            if not data:
                break
            received += data
    server.join(5)
    assert received == message
    assert server.observation.ended == "eof" and server.observation.closed_by_program


def test_an_end_caused_by_the_program_dying_is_not_a_close():
    server = ReferenceServer(b"Hello World!", time.monotonic() + 5, lambda: False, lambda: None)
    server.start()
    with socket.create_connection(server.address, timeout=5) as sock:
        sock.recv(100)
    server.join(5)
    assert server.observation.ended == "eof"
    assert not server.observation.closed_by_program


def test_stop_ends_the_wait_at_once():
    server = ReferenceServer(b"x", time.monotonic() + 30, lambda: True, lambda: None)
    server.start()
    sock = socket.create_connection(server.address, timeout=5)  # connected, never closes
    for _ in range(500):  # until the server has accepted (bounded: 5 s)
        if server.observation.connected:
            break
        time.sleep(0.01)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2
    assert server.observation.ended == "stopped"
    assert not server.observation.closed_by_program
    sock.close()


SERVER_SENDING_PIECES = '''\
import socket, time
s = socket.socket()
s.bind(("", 12345))
s.listen(1)
print("Waiting for connection...")
conn, addr = s.accept()
print("Connection request accepted!")
for piece in {pieces!r}:
    conn.sendall(piece)
    time.sleep(0.01)
print("Message sent!")
conn.close()
s.close()
'''


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(printable, st.lists(st.integers(0, 100), max_size=3))
def test_the_grader_follows_the_exercise_message_end_to_end(tmp_path, text, cuts):
    exercise = HELLO_WORLD._replace(message=text)
    server = tmp_path / "server.py"
    server.write_text(SERVER_SENDING_PIECES.format(pieces=_split(text.encode(), cuts)))
    report = grade_file("server", server, exercise=exercise)
    assert report.check("server.sends_message").passed, report.check("server.sends_message")
    assert report.full_marks
    # The reference client prints whatever it receives, so it passes with any message too.
    client_report = grade_file("client", ROOT / "reference" / "client.py", exercise=exercise)
    assert client_report.full_marks, [c for c in client_report.checks if not c.passed]


def _waiting_server(send: bytes, box: dict, ready: threading.Event):
    """A server that sends ``send`` (maybe nothing), then waits in recv() for the client to hang
    up, then closes: what it read is kept in ``box``."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    box["address"] = listener.getsockname()
    ready.set()
    listener.settimeout(5)
    conn, _ = listener.accept()
    conn.settimeout(5)
    if send:
        conn.sendall(send)
    try:
        box["read"] = conn.recv(1024)
    except OSError as exc:
        box["read"] = exc
    conn.close()
    listener.close()


def _hang_up_after(send: bytes):
    ready, box, done, answers = threading.Event(), {}, threading.Event(), []
    program = threading.Thread(target=_waiting_server, args=(send, box, ready))
    program.start()
    assert ready.wait(5)
    client = ReferenceClient(box["address"], socket.AF_INET, time.monotonic() + 5, lambda: True, done.set)
    client.start()
    answered = threading.Event()
    while not client.observation.connected and client.is_alive():
        time.sleep(0.01)  # bounded by the client's own 5 s deadline
    time.sleep(0.05)  # the server's send (if any) is on its way, as when it entered recv()
    client.hang_up(lambda closed: (answers.append(closed), answered.set()))
    answered.wait(5)
    if not answers or not answers[0]:
        client.stop()  # the deadlock: the grader would stop both
    program.join(6)
    client.join(5)
    return client.observation, answers, box


def test_the_reference_client_closes_its_side_once_it_has_the_data_and_sees_the_server_close():
    obs, answers, box = _hang_up_after(b"Hello World!")
    assert answers == [True] and obs.hung_up
    assert box["read"] == b""  # the server saw the end of stream, as from the handout's client
    assert obs.received == b"Hello World!"
    assert obs.ended == "eof" and obs.closed_by_program


def test_the_reference_client_does_not_hang_up_before_it_received_anything():
    obs, answers, box = _hang_up_after(b"")
    assert answers == [False] and not obs.hung_up
    assert obs.ended == "stopped" and not obs.closed_by_program
