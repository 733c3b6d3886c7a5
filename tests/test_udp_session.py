"""Datagram sessions: the UDP Hello programs under the probe against the reference datagram
counterparts, with what each side saw, the kernel's evidence, and why and when the session
stopped; and that nothing is left behind."""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT
from grader.running import sandbox, tempdirs
from grader.exercises.default import HELLO_WORLD
from grader.running.session import (DEFAULT_REQUEST, STALLED_ACCEPT_UDP, STALLED_RECVFROM, STOPPED_TIME_LIMIT,
                            run_session)

REFERENCE = ROOT / "reference" / "udp_hello"
UDP = FIXTURES / "udp_hello"
MESSAGE = b"Hello World!"
SANDBOX = [False, pytest.param(True, marks=pytest.mark.skipif(not sandbox.available()[0],
                                                               reason="the sandbox cannot run here"))]


def udp_session(role, path, time_limit=5.0, message=MESSAGE, sandboxed=False):
    return run_session(role, Path(path), HELLO_WORLD, message, time_limit, sandboxed, transport="udp")


def kinds(trace):
    return [e["kind"] for e in trace.events if e["kind"] not in ("stdout", "stderr", "hello", "start")]


def one(trace, kind):
    found = [e for e in trace.events if e["kind"] == kind]
    assert len(found) == 1, (kind, found)
    return found[0]


@pytest.mark.parametrize("sandboxed", SANDBOX, ids=["plain", "sandbox"])
def test_the_reference_server_against_the_reference_client(sandboxed):
    trace = udp_session("server", REFERENCE / "server.py", sandboxed=sandboxed)
    seen = trace.datagrams
    assert trace.transport == "udp" and not trace.peer.connected
    assert (trace.stopped_because, trace.finished_status, trace.exit_status) == (None, 0, 0)
    assert kinds(trace) == ["socket", "bind", "datagram_recv_call", "datagram_recv_return", "datagram_send",
                            "close", "finished"]
    bind = one(trace, "bind")
    # The client sent its one request to the port the server was bound to...
    assert [(d.data, d.address) for d in seen.sent] == [(DEFAULT_REQUEST, tuple(bind["address"]))]
    assert seen.program_address == tuple(bind["address"])
    # ...which the server received, from the client's own address, and answered there.
    received = one(trace, "datagram_recv_return")
    assert received["data"] == DEFAULT_REQUEST.decode() and tuple(received["peer"]) == seen.own_address
    assert [(d.data, d.address, d.program_alive) for d in seen.received] == \
        [(MESSAGE, tuple(bind["address"]), True)]
    assert seen.elsewhere == [] and seen.send_error is None
    send = one(trace, "datagram_send")
    assert tuple(send["requested"]) == tuple(send["to"]) == seen.own_address
    # The kernel showed the bound socket as the program's, and it was closed before the end.
    assert seen.program_socket and trace.open_at_end is not None
    assert seen.program_socket not in trace.open_at_end
    assert trace.output.stdout.text.splitlines() == [
        "Waiting for a request...", "Request received from %r" % (tuple(received["peer"]),), "Message sent!"]
    assert trace.duration < 3.0


@pytest.mark.parametrize("sandboxed", SANDBOX, ids=["plain", "sandbox"])
def test_the_reference_client_against_the_reference_server(sandboxed):
    message = b"Xqjzk Mwpre!"  # what the anti-hard-coding run sends: it is what gets printed
    trace = udp_session("client", REFERENCE / "client.py", message=message, sandboxed=sandboxed)
    seen = trace.datagrams
    assert (trace.stopped_because, trace.finished_status, trace.exit_status) == (None, 0, 0)
    assert kinds(trace) == ["socket", "datagram_send", "datagram_recv_call", "datagram_recv_return", "close",
                            "finished"]
    send = one(trace, "datagram_send")
    assert send["requested"] == ["localhost", 12345] and tuple(send["to"]) == seen.own_address
    # The server got the request from the program's socket, and replied there with the message.
    assert [(d.data, d.address, d.program_alive) for d in seen.received] == \
        [(b"Hello, server!", tuple(send["local"]), True)]
    assert [(d.data, d.address) for d in seen.sent] == [(message, tuple(send["local"]))]
    assert one(trace, "datagram_recv_return")["data"] == message.decode()
    assert seen.program_socket and seen.program_socket not in trace.open_at_end
    assert trace.output.stdout.text.splitlines()[-1] == message.decode()


def test_a_server_that_never_closes_still_holds_its_socket_at_the_end():
    trace = udp_session("server", UDP / "server" / "never_closes.py")
    assert trace.finished_status == 0 and trace.stopped_because is None
    assert "close" not in kinds(trace)
    assert trace.datagrams.program_socket in trace.open_at_end


def test_a_reply_to_a_hard_coded_address_is_seen_not_to_reach_the_client():
    trace = udp_session("server", UDP / "server" / "hardcoded_reply_address.py")
    seen = trace.datagrams
    assert seen.received == []
    assert [d.data for d in seen.elsewhere] == [MESSAGE]
    send = one(trace, "datagram_send")
    assert send["requested"] == ["localhost", 12346] and tuple(send["to"]) != seen.own_address


@pytest.mark.parametrize("name", ["connect_then_send.py", "partner_ip.py"])
def test_a_client_reaches_the_server_whatever_address_it_used(name):
    trace = udp_session("client", UDP / "client" / name)
    seen = trace.datagrams
    assert [d.data for d in seen.received] == [b"Hello, server!"]
    assert trace.finished_status == 0 and MESSAGE.decode() in trace.output.stdout.text


def test_a_cut_reply_is_visible_in_the_events():
    trace = udp_session("client", UDP / "client" / "buffer_too_small.py")
    call, returned = one(trace, "datagram_recv_call"), one(trace, "datagram_recv_return")
    assert call["bufsize"] == 5 and returned["size"] == 5
    assert trace.datagrams.sent[0].size == len(MESSAGE)


@pytest.mark.parametrize("role, name, reason, sent, received", [
    # A server serving in a loop: after the one request it waits again, for nothing.
    ("server", "serves_forever.py", STALLED_RECVFROM, [DEFAULT_REQUEST], [MESSAGE]),
    # recvfrom() on a socket that was never bound: nothing can ever reach it.
    ("server", "no_bind.py", STALLED_RECVFROM, [], []),
    # A TCP server in the UDP lab: no reference program will ever connect.
    ("server", "stream_socket.py", STALLED_ACCEPT_UDP, [], []),
    # A client waiting for the reply before sending the request: both wait.
    ("client", "receives_before_sending.py", STALLED_RECVFROM, [], []),
])
@pytest.mark.parametrize("sandboxed", SANDBOX, ids=["plain", "sandbox"])
def test_a_program_that_can_never_receive_is_stopped_at_once(role, name, reason, sent, received, sandboxed):
    trace = udp_session(role, UDP / role / name, time_limit=10.0, sandboxed=sandboxed)
    assert trace.stopped_because == reason
    assert trace.duration < 4.0, "stalled programs are recognised, not waited for"
    assert trace.exit_status is None and trace.finished_status is None
    assert [d.data for d in trace.datagrams.sent] == sent
    assert [d.data for d in trace.datagrams.received] == received


def test_a_receive_with_a_timeout_is_not_a_stall(tmp_path):
    path = tmp_path / "server.py"
    path.write_text("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                    "s.bind(('', 12345))\ns.settimeout(30)\nwhile True:\n"
                    "    data, address = s.recvfrom(1024)\n    s.sendto(b'Hello World!', address)\n")
    began = time.monotonic()
    trace = udp_session("server", path, time_limit=1.0)
    assert trace.stopped_because == STOPPED_TIME_LIMIT
    assert 1.0 <= time.monotonic() - began < 6.0
    assert [d.data for d in trace.datagrams.received] == [MESSAGE]


def test_a_program_whose_thread_waits_is_judged_at_the_time_limit(tmp_path):
    path = tmp_path / "client.py"
    path.write_text("import socket, threading, time\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                    "threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
                    "s.sendto(b'hi', ('localhost', 12345))\nprint(s.recvfrom(100)[0].decode())\n"
                    "s.recvfrom(100)\n")
    trace = udp_session("client", path, time_limit=1.0)
    assert trace.stopped_because == STOPPED_TIME_LIMIT  # another thread might still send
    assert trace.output.stdout.text.strip() == MESSAGE.decode()


def test_a_program_that_exits_by_itself_ends_the_session(tmp_path):
    path = tmp_path / "client.py"
    path.write_text("import os, socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                    "s.sendto(b'hi', ('localhost', 12345))\nos.kill(os.getpid(), 9)\n")
    trace = udp_session("client", path)
    assert trace.stopped_because is None and trace.exit_status is None  # killed by a signal
    assert trace.duration < 3.0
    assert [d.data for d in trace.datagrams.received] == [b"hi"]


def test_a_program_sending_str_fails_with_pythons_error_and_nothing_arrives():
    trace = udp_session("client", UDP / "client" / "send_str.py")
    send = one(trace, "datagram_send")
    assert (send["ok"], send["data_type"]) == (False, "str")
    assert send["message"] == "a bytes-like object is required, not 'str'"
    assert one(trace, "exception")["error"] == "TypeError"
    assert trace.datagrams.received == [] and trace.exit_status == 1


def test_a_tcp_client_in_the_udp_lab_is_refused_as_on_the_lab_computers():
    trace = udp_session("client", UDP / "client" / "stream_socket.py")
    assert one(trace, "connect_return")["error"] == "ConnectionRefusedError"
    assert trace.datagrams.received == []


def test_the_transport_is_checked_and_tcp_is_the_default():
    with pytest.raises(ValueError, match="transport"):
        run_session("client", REFERENCE / "client.py", HELLO_WORLD, MESSAGE, 5.0, transport="sctp")
    trace = run_session("client", ROOT / "reference" / "client.py", HELLO_WORLD, MESSAGE, 5.0)
    assert trace.transport == "tcp" and trace.datagrams is None and trace.peer.received == b""
    assert trace.peer.sent == MESSAGE


def _open_sockets():
    """The grader's own open sockets (other descriptors, e.g. the pipes of a program started
    ahead for the next grading, come and go with the TCP sessions too)."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_nothing_is_left_behind():
    # Warm up (imports, caches), then the same sessions must not leave sockets or folders.
    udp_session("server", REFERENCE / "server.py")
    mine = tempdirs.PREFIX + str(os.getpid()) + "-"
    folders = {p for p in os.listdir(tempfile.gettempdir()) if p.startswith(mine)}  # the grader's own
    before = _open_sockets()
    for role, path in [("server", REFERENCE / "server.py"), ("client", REFERENCE / "client.py"),
                       ("server", UDP / "server" / "serves_forever.py"),
                       ("server", UDP / "server" / "never_closes.py")]:
        udp_session(role, path)
    time.sleep(0.2)  # the counterparts' threads close their sockets as they end
    assert _open_sockets() == before
    assert {p for p in os.listdir(tempfile.gettempdir()) if p.startswith(mine)} == folders


UDP_IDS = {
    "server": ["runs", "binds", "waiting_printed", "receives", "received_printed", "sends_message",
               "replies_to_sender", "sent_printed", "closes", "exits"],
    "client": ["runs", "sending_printed", "sends_request", "waiting_printed", "prints_message", "closes", "exits"],
}


def _udp_fixtures():
    from conftest import parse_fixture

    return [pytest.param(parse_fixture(role, path), id="%s/%s" % (role, path.stem))
            for role in ("server", "client") for path in sorted((UDP / role).glob("*.py"))]


@pytest.mark.parametrize("fixture", _udp_fixtures())
def test_each_fixture_shows_the_evidence_its_expected_verdicts_rest_on(fixture):
    # The checks that the counterpart and the kernel decide, judged here from the trace alone:
    # whatever the check engine words, these facts must hold for the declared verdicts.
    role = fixture.role
    assert list(fixture.expect) == ["%s.%s" % (role, name) for name in UDP_IDS[role]]
    expect = {name.split(".", 1)[1]: verdict for name, verdict in fixture.expect.items()}
    trace = udp_session(role, fixture.path, time_limit=fixture.timeout)
    seen = trace.datagrams
    exited = trace.exit_status == 0 and trace.stopped_because is None
    assert exited == (expect["exits"] == "passed")
    if expect["closes"] != "skipped":
        # Passing needs the kernel to show the socket released while the program still ran.
        released = seen.program_socket and trace.open_at_end is not None \
            and seen.program_socket not in trace.open_at_end
        assert bool(released) == (expect["closes"] == "passed")
    if role == "server":
        from_program = sorted(seen.received + seen.elsewhere, key=lambda d: d.at)
        message_sent = bool(from_program) and from_program[0].data.strip() == MESSAGE
        assert message_sent == (expect["sends_message"] == "passed")
        if expect["replies_to_sender"] != "skipped":
            assert bool(seen.received) == (expect["replies_to_sender"] == "passed")
        if expect["binds"] == "passed":
            assert seen.program_socket and one(trace, "bind")["type"] == 2
        if expect["receives"] == "passed":
            assert any(e["kind"] == "datagram_recv_return" and e["ok"]
                       and e["data"] == DEFAULT_REQUEST.decode() for e in trace.events)
    else:
        requested = bool(seen.received) and bool(seen.program_socket) and seen.received[0].program_alive
        assert requested == (expect["sends_request"] == "passed")
        if expect["prints_message"] == "passed":
            assert seen.sent[0].data.decode() in trace.output.stdout.text.splitlines()
