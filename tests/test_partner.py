"""The partner commands over loopback: against each other, against the reference programs, and
against servers that get it wrong or are not there.  Every process has a time limit and is
stopped at the end; every port is an ephemeral one on 127.0.0.1."""
from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import ROOT
from grader.labday import partner
from grader.exercises.default import HELLO_WORLD
from grader.exercises.loader import find_exercise, shipped_names

ENV = dict(os.environ, NO_COLOR="1", PYTHONPATH=str(ROOT))


def _grader(*args, timeout=30):
    return subprocess.run([sys.executable, "-m", "grader", *map(str, args)], cwd=ROOT, env=ENV,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)


class Background:
    """A command in the background whose output is read line by line as it comes."""

    def __init__(self, *args):
        self.proc = subprocess.Popen(list(map(str, args)), cwd=ROOT, env=ENV, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.output = ""

    def wait_for(self, pattern: str, seconds: float = 20.0) -> re.Match:
        found = []
        reader = threading.Thread(target=self._read_until, args=(pattern, found), daemon=True)
        reader.start()
        reader.join(seconds)
        assert found, "no %r in:\n%s" % (pattern, self.output)
        return found[0]

    def _read_until(self, pattern, found):
        while True:
            match = re.search(pattern, self.output)
            if match:
                found.append(match)
                return
            line = self.proc.stdout.readline()
            if not line:
                return
            self.output += line

    def finish(self, seconds: float = 20.0) -> int:
        # Not communicate(timeout=...): it reads the pipe itself and loses what readline()
        # already buffered.
        self.proc.wait(timeout=seconds)
        self.output += self.proc.stdout.read()
        self.proc.stdout.close()
        return self.proc.returncode

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def background():
    started = []

    def start(*args):
        started.append(Background(*args))
        return started[-1]

    yield start
    for b in started:
        b.stop()


def _partner_server(background, *more):
    server = background(sys.executable, "-m", "grader", "partner", "server", "--port", "0",
                        "--bind", "127.0.0.1", *more)
    port = int(server.wait_for(r"on (?:TCP|UDP) port (\d+)\.").group(1))
    return server, port


def _free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_partner_server_against_partner_client(background):
    server, port = _partner_server(background)
    client = _grader("partner", "client", "127.0.0.1", port)
    assert client.returncode == 0, client.stdout
    assert 'It received "Hello World!" (12 bytes).' in client.stdout
    assert "The server closed the connection." in client.stdout
    assert server.finish() == 0  # one exchange, then it stops by itself
    assert re.search(r"A client connected from 127\.0\.0\.1 port \d+\.", server.output)
    assert "The client closed the connection." in server.output
    assert "Listening only at 127.0.0.1" in server.output  # never more than asked


def test_partner_server_against_the_reference_client_twice(background):
    server, port = _partner_server(background, "--count", "2")
    for _ in range(2):
        client = subprocess.run([sys.executable, "reference/client.py", "127.0.0.1", str(port)], cwd=ROOT,
                                capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
        assert client.stdout.splitlines()[-1] == "Hello World!"
    assert server.finish() == 0
    assert server.output.count("A client connected from") == 2
    assert "2 of 2 exchanges went as the exercise says." in server.output


def test_partner_server_says_when_the_client_does_not_close(background):
    server, port = _partner_server(background, "--timeout", "1")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.settimeout(10)
        got = b""
        while len(got) < 12:
            got += sock.recv(100)
        assert got == b"Hello World!"
        assert server.finish() == 1  # the client never closed
    assert "did not close the connection within 1 seconds" in server.output


def test_partner_client_against_the_reference_server(background):
    port = _free_port()
    server = background(sys.executable, "reference/server.py", port)
    server.wait_for(r"Waiting for connection")
    client = _grader("partner", "client", "localhost", port)
    assert client.returncode == 0, client.stdout
    assert "That is the exchange the exercise expects." in client.stdout
    assert server.finish() == 0


def _one_shot_server(reply: bytes, close: bool = True):
    """A server on loopback that sends ``reply`` to its one client (and closes, or not)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(20)

    def serve():
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.sendall(reply)
            if not close:
                time.sleep(3)
        listener.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener.getsockname()[1], thread


@pytest.mark.parametrize("reply, why", [
    (b"Hello World", "only the start of it arrived"),
    (b"b'Hello World!'", "how Python prints a bytes object"),
    (b"Hello World!\n", "differs only in spaces or line ends"),
    (b"", "nothing arrived"),
])
def test_partner_client_against_a_wrong_server(reply, why):
    port, thread = _one_shot_server(reply)
    client = _grader("partner", "client", "127.0.0.1", port)
    thread.join(20)
    assert client.returncode == 1, client.stdout
    assert why in client.stdout and "not the exchange the exercise expects" in client.stdout


def test_partner_client_says_when_the_server_does_not_close():
    port, thread = _one_shot_server(b"Hello World!", close=False)
    client = _grader("partner", "client", "127.0.0.1", port, "--timeout", "1")
    thread.join(20)
    assert client.returncode == 1
    assert 'It received "Hello World!"' in client.stdout
    assert "did not close the connection within 1 seconds" in client.stdout


def test_partner_client_refused_and_unknown_names_in_plain_words():
    refused = _grader("partner", "client", "127.0.0.1", _free_port())
    assert refused.returncode == 1
    assert "nothing is listening on port" in refused.stdout and "is your partner's server running?" in refused.stdout
    unknown = _grader("partner", "client", "no-such-host.invalid", 12345)
    assert unknown.returncode == 1 and 'the name "no-such-host.invalid" was not found' in unknown.stdout
    assert "Traceback" not in refused.stdout + refused.stderr + unknown.stdout + unknown.stderr


def test_partner_echo_both_ways(background):
    server, port = _partner_server(background, "--exercise", "echo")
    client = _grader("partner", "client", "127.0.0.1", port, "--exercise", "echo")
    assert client.returncode == 0, client.stdout
    assert server.finish() == 0
    assert 'The client sent "Echo me, please 42\\n" (19 bytes).' in server.output
    assert 'It received "Echo me, please 42\\n" (19 bytes).' in client.stdout
    # the echo lab's reference programs
    server, port = _partner_server(background, "--exercise", "echo")
    ref_client = subprocess.run([sys.executable, "reference/echo/client.py", "127.0.0.1", str(port)], cwd=ROOT,
                                capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert ref_client.stdout.splitlines()[-1] == "Echo me, please!"
    assert server.finish() == 0
    port = _free_port()
    ref_server = background(sys.executable, "reference/echo/server.py", port)
    ref_server.wait_for("Waiting for connection")
    client = _grader("partner", "client", "127.0.0.1", port, "--exercise", "echo")
    assert client.returncode == 0, client.stdout


def test_partner_server_refuses_a_port_in_use():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        result = _grader("partner", "server", "--bind", "127.0.0.1", "--port", taken.getsockname()[1])
    assert result.returncode == 1 and "is already in use" in result.stdout


def test_local_addresses_are_this_computers():
    for address in partner.local_addresses():
        with socket.socket() as sock:  # an address of this computer can be bound
            sock.bind((address, 0))


# -- datagram labs: the partner logic with a UDP exercise, against the UDP reference programs ---

UDP = HELLO_WORLD._replace(transport="udp")


def test_udp_partner_client_against_the_reference_udp_server(background):
    port = _free_port(socket.SOCK_DGRAM)
    server = background(sys.executable, "reference/udp_hello/server.py", port)
    server.wait_for("Waiting for a request")
    out = io.StringIO()
    assert partner.connect(UDP, "127.0.0.1", port, timeout=10, out=out) == 0, out.getvalue()
    assert 'It received "Hello World!"' in out.getvalue()
    assert server.finish() == 0
    assert "Request received" in server.output


def test_udp_partner_client_nothing_bound():
    out = io.StringIO()
    assert partner.connect(UDP, "127.0.0.1", _free_port(socket.SOCK_DGRAM), timeout=2, out=out) == 1
    assert "nothing is bound to UDP port" in out.getvalue() or "No reply within 2 seconds" in out.getvalue()


def test_udp_partner_server_against_the_reference_udp_client():
    port = _free_port(socket.SOCK_DGRAM)
    out = io.StringIO()
    result = []
    thread = threading.Thread(target=lambda: result.append(
        partner.serve(UDP, port, "127.0.0.1", 1, timeout=5, out=out)), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while "Waiting for a request" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.02)
    client = subprocess.run([sys.executable, "reference/udp_hello/client.py", "127.0.0.1", str(port)], cwd=ROOT,
                            capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    thread.join(10)
    assert result == [0], out.getvalue()
    assert client.stdout.splitlines()[-1] == "Hello World!"
    assert re.search(r'A request came from 127\.0\.0\.1 port \d+: "Hello, server!"', out.getvalue())


@pytest.mark.skipif("udp_hello" not in shipped_names(), reason="the udp_hello exercise is not shipped here")
def test_udp_partner_commands_against_each_other(background):
    server, port = _partner_server(background, "--exercise", "udp_hello")
    client = _grader("partner", "client", "127.0.0.1", port, "--exercise", "udp_hello")
    assert client.returncode == 0, client.stdout
    assert server.finish() == 0
    assert find_exercise("udp_hello").transport == "udp"


def test_partner_server_ctrl_c_and_bad_options(background):
    server, port = _partner_server(background, "--forever")
    server.wait_for(r"Waiting for a client")
    server.proc.send_signal(signal.SIGINT)
    assert server.finish() == 130
    assert "Stopped (Ctrl-C)." in server.output and "Traceback" not in server.output
    with socket.socket() as sock:  # the port is free again: nothing left listening
        sock.bind(("127.0.0.1", port))
    bad = _grader("partner", "server", "--count", "0")
    assert bad.returncode == 2 and "--count takes a whole number" in bad.stderr
    bad = _grader("partner", "server", "--bind", "no-such-host.invalid", "--port", "0")
    assert bad.returncode == 1 and "is not a name or address of this computer" in bad.stdout
    bad = _grader("partner", "client", "127.0.0.1", "http")
    assert bad.returncode == 2 and "is not a port number" in bad.stderr
