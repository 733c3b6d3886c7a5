"""The probe's datagram hooks: Python's own behaviour and errors are kept, every datagram call is
recorded as a datagram event of a declared shape, and the virtual lab network routes datagrams
wherever the program addressed them."""
from __future__ import annotations

import json
import socket
import subprocess
import threading

import pytest

from grader.running import events
from test_probe_fidelity import BOOTSTRAP, PYTHONS, run_probe

# (method, positional arguments, keyword arguments): calls the real methods of an unconnected
# UDP socket refuse (none of them may block or send anything).
BAD_DATAGRAM_CALLS = [
    ("sendto", (b"x",), {}),
    ("sendto", (), {}),
    ("sendto", (), {"data": b"x", "address": ("localhost", 9)}),
    ("sendto", ("Hello World!", ("localhost", 9)), {}),
    ("sendto", ("Hello World!", 0, ("localhost", 9)), {}),
    ("sendto", (b"x", ("localhost", "9")), {}),
    ("sendto", (b"x", "localhost:9"), {}),
    ("sendto", (b"x", ("localhost", 70000)), {}),
    ("sendto", (b"x", ("localhost", 9, 0, 0)), {}),
    ("sendto", (b"x", (None, 9)), {}),
    ("sendto", (b"x", "0", ("localhost", 9)), {}),
    ("sendto", (b"x", 0, 0, ("localhost", 9)), {}),
    ("sendto", (b"x", ([b"localhost"], 9)), {}),
    ("send", (b"x",), {}),  # unconnected: no destination
    ("send", ("text",), {}),
    ("sendall", (b"x",), {}),
    ("recvfrom", (), {}),
    ("recvfrom", ("1024",), {}),
    ("recvfrom", (-1,), {}),
    ("recvfrom", (1024, 0, 0), {}),
    ("recvfrom_into", (), {}),
    ("recvfrom_into", (bytearray(4), 8), {}),
    ("recv", (-1,), {}),
    ("recv_into", (bytearray(1), -1), {}),
    ("connect", ("localhost", 9), {}),
    ("connect", (("localhost", "9"),), {}),
    ("connect_ex", ((None, 9),), {}),
    ("connect", (("localhost", 70000),), {}),
    ("bind", (("", "9"),), {}),
    ("listen", (1,), {}),
    ("accept", (), {}),
]

_COMPARE = r'''
import importlib.util, json, os, socket, sys
spec = importlib.util.spec_from_file_location("probe", sys.argv[1])
probe = importlib.util.module_from_spec(spec)
spec.loader.exec_module(probe)
calls = eval(sys.argv[2])

def attempt(name, args, kwargs):
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            getattr(s, name)(*args, **kwargs)
    except Exception as exc:
        return [type(exc).__name__, str(exc)]
    return None

real = [attempt(*call) for call in calls]
read, write = os.pipe()
probe._event_fd[0] = write
probe._config.update(udp_host="127.0.0.1", udp_port="9", udp_keep_port="19")
probe.install_socket_hooks()
hooked = [attempt(*call) for call in calls]
os.close(write)
events = os.read(read, 1 << 20).decode().splitlines()
print(json.dumps({"real": real, "hooked": hooked, "events": [json.loads(e) for e in events]}))
'''


@pytest.mark.parametrize("python", PYTHONS)
def test_datagram_methods_raise_what_the_real_ones_raise(python):
    out = subprocess.run([python, "-c", _COMPARE, str(BOOTSTRAP), repr(BAD_DATAGRAM_CALLS)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    for call, real, hooked in zip(BAD_DATAGRAM_CALLS, result["real"], result["hooked"]):
        assert real is not None, "%r does not fail: not a bad call" % (call,)
        assert hooked == real, call
    found = result["events"]
    assert all(events.problem(e) is None for e in found), [events.problem(e) for e in found]
    kinds = [e["kind"] for e in found]
    assert "tamper" not in kinds
    # Every failed datagram call is recorded as failed, as a datagram event, with Python's words.
    sends = [e for e in found if e["kind"] == "datagram_send"]
    assert len(sends) == sum(1 for c in BAD_DATAGRAM_CALLS if c[0].startswith("send"))
    assert not any(e["ok"] for e in sends)
    assert sends[3]["data_type"] == "str" and sends[3]["message"] == result["real"][3][1]
    connects = [e for e in found if e["kind"] == "datagram_connect"]
    assert len(connects) == 4 and not any(e["ok"] for e in connects)
    assert not any(k in kinds for k in ("send", "recv_call", "recv_return", "connect_call"))


PROGRAM = r'''
import socket, sys
keep = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
print(s.sendto(b"one", ("10.1.2.3", 5555)))
print(s.sendto(b"two", 0, ("no-such-host.invalid", 7)))
data, sender = s.recvfrom(100)
print(data, sender)
s.connect(("192.168.0.9", 7))
s.send(b"three")
buf = bytearray(10)
n, sender = s.recvfrom_into(buf)
print(bytes(buf[:n]))
print(s.getsockname()[0])
s.close()
k = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
k.bind(("::", 12345))
k.sendto(b"kept", ("localhost", keep))
k.sendto(b"v6", ("::1", 5555))
k.close()
'''


def test_datagrams_reach_the_grader_wherever_they_were_addressed(tmp_path):
    route = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    keep = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    got, kept = [], []
    try:
        for s in (route, keep):
            s.bind(("127.0.0.1", 0))
            s.settimeout(10)
        route_port, keep_port = route.getsockname()[1], keep.getsockname()[1]

        def serve():  # plays the reference server: answers "one" and "three"
            for _ in range(4):
                data, sender = route.recvfrom(100)
                got.append((data, sender))
                if data in (b"one", b"three"):
                    route.sendto(data.upper(), sender)
            kept.append(keep.recvfrom(100))

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        path = tmp_path / "client.py"
        path.write_text(PROGRAM.replace("int(sys.argv[1])", str(keep_port)))
        found, stderr = run_probe(PYTHONS[0], path, udp_host="127.0.0.1", udp_port=str(route_port),
                                  udp_keep_port=str(keep_port))
        server.join(10)
    finally:
        route.close()
        keep.close()
    assert not stderr.strip(), stderr
    assert [d for d, _ in got] == [b"one", b"two", b"three", b"v6"]
    assert got[0][1][0] == "127.0.0.1"  # the program's socket was bound to loopback, not to all
    assert kept and kept[0][0] == b"kept"
    assert all(events.problem(e) is None for e in found)
    sends = [e for e in found if e["kind"] == "datagram_send"]
    route_to = ["127.0.0.1", route_port]
    assert [(e["requested"], e["to"], e["size"], e["ok"]) for e in sends] == [
        (["10.1.2.3", 5555], route_to, 3, True),
        (["no-such-host.invalid", 7], route_to, 3, True),
        (None, route_to, 5, True),  # send() on the connected socket: where connect() pointed it
        (["localhost", keep_port], ["::ffff:127.0.0.1", keep_port], 4, True),
        (["::1", 5555], ["::ffff:127.0.0.1", route_port], 2, True),
    ]
    assert sends[0]["local"][0] == "127.0.0.1"
    connect, = [e for e in found if e["kind"] == "datagram_connect"]
    assert (connect["requested"], connect["to"], connect["ok"]) == (["192.168.0.9", 7], route_to, True)
    returns = [e for e in found if e["kind"] == "datagram_recv_return"]
    assert [(e["data"], e["peer"], e["via"]) for e in returns] == [
        ("ONE", route_to, "recvfrom"), ("THREE", route_to, "recvfrom_into")]
    calls = [e for e in found if e["kind"] == "datagram_recv_call"]
    assert [(e["bufsize"], e["timeout"], e["local"][0]) for e in calls] == [(100, None, "127.0.0.1"), (10, None, "127.0.0.1")]
    bind, = [e for e in found if e["kind"] == "bind"]
    assert bind["type"] == socket.SOCK_DGRAM and bind["address"][0] == "::ffff:127.0.0.1"
    stdout_text = "".join(e["text"] for e in found if e["kind"] == "stdout")
    assert stdout_text.splitlines()[:2] == ["3", "3"]  # sendto() returns what the real one does


def test_a_tcp_grading_leaves_datagrams_where_they_were_addressed(tmp_path):
    # Without the datagram configuration (a TCP grading) nothing is routed: the probe reports.
    target = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    target.bind(("127.0.0.1", 0))
    target.settimeout(10)
    port = target.getsockname()[1]
    try:
        path = tmp_path / "program.py"
        path.write_text("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                        "s.sendto(b'direct', ('127.0.0.1', %d))\ns.close()\n" % port)
        found, stderr = run_probe(PYTHONS[0], path, connect_host="127.0.0.1", connect_port="9")
        assert target.recvfrom(100)[0] == b"direct"
    finally:
        target.close()
    send, = [e for e in found if e["kind"] == "datagram_send"]
    assert send["to"] == send["requested"] == ["127.0.0.1", port]


def test_datagram_events_of_another_shape_are_refused():
    # The new kinds keep the channel's guarantee: a line the probe would never write is refused
    # (and counted as interference), never handed to the checks.
    now = __import__("time").monotonic()

    def event(kind, **fields):
        return dict(fields, kind=kind, seq=1, t=now, pid=42)

    good = event("datagram_send", ok=True, sock=1, via="sendto", data="Hello World!", size=12,
                 requested=["localhost", 12345], to=["127.0.0.1", 40000], local=["127.0.0.1", 40001])
    assert events.problem(good) is None
    assert events.problem(event("datagram_recv_return", ok=True, sock=1, via="recvfrom", data="x", size=1,
                                peer=None)) is None
    bad = {
        "unexpected field": dict(good, delivered=True),
        "wrong type": dict(good, to="nowhere", size="12"),
        "not bytes": dict(good, data="\u2603"),
        "wrong type ": event("datagram_recv_call", sock=1, via="recvfrom", bufsize="1024", local=None,
                             timeout=None, threads=1),
        "wrong type  ": event("datagram_connect", ok="yes", sock=1, requested=["h", 1], via="connect",
                              to=["127.0.0.1", 1]),
        "wrong type   ": event("bind", ok=True, sock=1, requested=["", 1], address=None, type="dgram"),
    }
    for reason, forged in bad.items():
        problem = events.problem(forged)
        assert problem is not None and reason.strip() in problem, (reason, problem)
