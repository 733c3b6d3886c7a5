"""The reference datagram counterparts, played against plain loopback sockets standing for the
student's program: what they send, to whom, what they record, and that they stop cleanly."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from grader.running.peers_udp import (MAX_DATAGRAMS, RECEIVE_LIMIT, DatagramManner, ReferenceUdpClient,
                                      ReferenceUdpServer)


def _program_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    return sock


def _started(kind, payload, alive=lambda: True, **more):
    done = threading.Event()
    peer = kind(payload, time.monotonic() + 10, alive, done.set, **more)
    peer.start()
    return peer, done


@pytest.mark.parametrize("message", [b"Hello World!", b"", bytes(range(256)) * 4, b"x" * 65507])
def test_the_server_answers_the_first_request_with_the_message_to_its_sender(message):
    server, done = _started(ReferenceUdpServer, message)
    program = _program_socket()
    try:
        program.sendto(b"first request", server.address)
        reply, sender = program.recvfrom(65535)
        program.sendto(b"second", server.address)
        server.catch_up()
        obs = server.observation
        assert reply == message and sender == server.address
        assert obs.program_address == program.getsockname()
        assert [(d.data, d.address, d.program_alive) for d in obs.received] == \
            [(b"first request", program.getsockname(), True), (b"second", program.getsockname(), True)]
        # One reply only, to the sender of the first request.
        assert [(d.data, d.address, d.size) for d in obs.sent] == [(message, program.getsockname(), len(message))]
        assert obs.delivered_to(program.getsockname()[1]) == 1 and obs.delivered_to(1) == 0
        program.settimeout(0.2)
        with pytest.raises(socket.timeout):
            program.recvfrom(100)
    finally:
        program.close()
        server.stop()
    assert done.is_set() and not server.is_alive()
    assert all(s.fileno() == -1 for s in server.sockets)


def test_catch_up_answers_a_request_before_the_thread_sees_it():
    # The session decides "stalled" right after the program's recvfrom() call: what the program
    # sent before must have been answered by then, whatever the counterpart's thread was doing.
    done = threading.Event()
    server = ReferenceUdpServer(b"Hello World!", time.monotonic() + 10, lambda: True, done.set)  # not started
    program = _program_socket()
    try:
        program.sendto(b"request", server.address)
        server.catch_up()
        assert server.observation.delivered_to(program.getsockname()[1]) == 1
        assert program.recvfrom(100)[0] == b"Hello World!"
    finally:
        program.close()
        server.stop()  # never started: still reads, closes and says done
    assert done.is_set() and all(s.fileno() == -1 for s in server.sockets)


def test_the_client_sends_one_request_and_tells_replies_from_datagrams_sent_elsewhere():
    client, done = _started(ReferenceUdpClient, b"Hello, server!")
    program = _program_socket()
    where = program.getsockname()
    try:
        client.send_request(where, program_socket=1234)
        client.send_request(where)  # once only
        request, sender = program.recvfrom(100)
        assert (request, sender) == (b"Hello, server!", client.address)
        program.sendto(b"Hello World!", sender)
        program.sendto(b"misdirected", client.elsewhere_address)
        program.sendto(b"", sender)  # an empty datagram is a datagram
    finally:
        program.close()
    client.stop()  # what arrived before the stop is read first
    obs = client.observation
    assert obs.program_address == where and obs.program_socket == 1234
    assert [d.data for d in obs.sent] == [b"Hello, server!"]
    assert [d.data for d in obs.received] == [b"Hello World!", b""]
    assert [d.data for d in obs.elsewhere] == [b"misdirected"]
    assert obs.received_total == 3 and done.is_set()


def test_what_is_kept_is_bounded_and_counted():
    client, _ = _started(ReferenceUdpClient, b"?")
    program = _program_socket()
    try:
        for _ in range(MAX_DATAGRAMS + 20):
            program.sendto(b"y" * 1000, client.address)
            client.catch_up()  # read as sent: a full receive buffer would drop datagrams
    finally:
        program.close()
        client.stop()
    obs = client.observation
    assert obs.received_total == MAX_DATAGRAMS + 20
    assert len(obs.received) == MAX_DATAGRAMS
    assert sum(len(d.data) for d in obs.received) == RECEIVE_LIMIT
    assert all(d.size == 1000 for d in obs.received)


def test_a_datagram_arriving_when_the_program_is_gone_says_so():
    alive = [True]
    server, _ = _started(ReferenceUdpServer, b"Hello World!", alive=lambda: alive[0])
    program = _program_socket()
    try:
        alive[0] = False
        program.sendto(b"late", server.address)
        server.catch_up()
    finally:
        program.close()
        server.stop()
    assert [d.program_alive for d in server.observation.received] == [False]


def test_the_client_stops_at_its_deadline():
    done = threading.Event()
    client = ReferenceUdpClient(b"?", time.monotonic() + 0.3, lambda: True, done.set)
    client.start()
    assert done.wait(3), "the counterpart outlived its deadline"
    client.stop()
    assert client.observation.stopped_at is not None


def test_a_tcp_connect_to_the_server_port_is_refused():
    # A SOCK_STREAM client in the UDP lab is routed to the server's port: it must be refused
    # there, never reach some other program listening on that port number.
    server, _ = _started(ReferenceUdpServer, b"Hello World!")
    try:
        with socket.socket() as tcp:
            tcp.settimeout(5)
            with pytest.raises(ConnectionRefusedError):
                tcp.connect(server.address)
        with socket.socket() as other:  # the TCP port is taken: nothing else can listen there
            with pytest.raises(OSError):
                other.bind(server.address)
    finally:
        server.stop()
    with socket.socket() as other:  # and released at the end
        other.bind(server.address)


def test_a_late_reply_from_another_port_is_due_until_sent():
    # --stress: the reply is on its way (the session must not call the program stalled) until it
    # is sent, late, and from the counterpart's second socket, not the one the request reached.
    done = threading.Event()
    server = ReferenceUdpServer(b"Hello World!", time.monotonic() + 10, lambda: True, done.set,
                                manner=DatagramManner(reply_delay=0.4, reply_from_other_port=True))
    server.start()
    program = _program_socket()
    port = program.getsockname()[1]
    try:
        program.sendto(b"request", server.address)
        began = time.monotonic()
        time.sleep(0.05)
        server.catch_up()
        assert server.sent_or_due(port) == 1 and server.observation.delivered_to(port) == 0
        reply, sender = program.recvfrom(100)
        assert reply == b"Hello World!" and time.monotonic() - began >= 0.3
        assert sender != server.address and sender == server.sockets[1].getsockname()
        assert server.sent_or_due(port) == 1 and server.observation.delivered_to(port) == 1
    finally:
        program.close()
        server.stop()
    assert done.is_set() and not server.is_alive()


def test_a_late_request_is_sent_after_the_delay_and_dropped_if_stopped_first():
    client, done = _started(ReferenceUdpClient, b"request", manner=DatagramManner(request_delay=0.3))
    program = _program_socket()
    try:
        began = time.monotonic()
        client.send_request(program.getsockname())
        data, _ = program.recvfrom(100)
        assert data == b"request" and time.monotonic() - began >= 0.25
    finally:
        program.close()
        client.stop()
    late, _ = _started(ReferenceUdpClient, b"request", manner=DatagramManner(request_delay=5.0))
    late.send_request(("127.0.0.1", 9))
    late.stop()  # the session ended first: nothing is sent afterwards
    assert late.observation.sent == [] and not late.is_alive()
