"""Pair mode for a datagram (UDP) lab: what crossed, and who broke the conversation.

``grader.labday.pair.run_pair`` runs both programs; this turns the two traces into the datagrams
each way (data, from, to) and a verdict in plain words: the server never bound, the request
never arrived, the reply went to a hard-coded address, the client's buffer cut the reply, both
wait in recvfrom(), the client printed the bytes object.  No score: it is for learning.
"""
from __future__ import annotations

import socket
from typing import Dict, List, NamedTuple, Optional, Tuple

from grader.exercises.default import Exercise
from grader.judging.checks.facts import Facts
from grader.judging.matching import contains_as_bytes_repr, contains_as_text
from grader.labday.pair import Explanation, PairRun, _Connection, _crash, _exercise_notes, _first, _timeline
from grader.running import kernel
from grader.running.session import Trace

_SHOWN = 5  # datagrams listed each way


class _Datagram(NamedTuple):
    data: bytes
    size: int
    local: Optional[Tuple[str, int]]  # the sender's socket (sent) or the receiver's (received)
    other: Optional[Tuple[str, int]]  # where it went (sent) or where it came from (received)
    requested: object  # the address the program wrote (sent), as the probe recorded it
    bufsize: Optional[int] = None  # received: the buffer recvfrom() was given


def _sent(trace: Trace) -> List[_Datagram]:
    return [_Datagram(str(e.get("data", "")).encode("latin-1"), int(e.get("size") or 0),
                      kernel.endpoint(e.get("local")), kernel.endpoint(e.get("to")), e.get("requested"))
            for e in trace.events if e.get("kind") == "datagram_send" and e.get("ok")]


def _received(trace: Trace) -> List[_Datagram]:
    got, calls = [], {}
    for e in trace.events:
        if e.get("kind") == "datagram_recv_call":
            calls[(e.get("pid"), e.get("sock"))] = e
        elif e.get("kind") == "datagram_recv_return" and e.get("ok"):
            call = calls.get((e.get("pid"), e.get("sock"))) or {}
            got.append(_Datagram(str(e.get("data", "")).encode("latin-1"), int(e.get("size") or 0),
                                 kernel.endpoint(call.get("local")), kernel.endpoint(e.get("peer")), None,
                                 call.get("bufsize") if isinstance(call.get("bufsize"), int) else None))
    return got


def _ports(trace: Trace) -> set:
    """The ports of the program's datagram sockets (from its sends, receives and binds)."""
    found = set()
    for e in trace.events:
        if e.get("kind") in ("datagram_send", "datagram_recv_call", "datagram_connect", "bind"):
            address = kernel.endpoint(e.get("local") if e.get("kind") != "bind" else e.get("address"))
            if address and address[1]:
                found.add(address[1])
    return found


def _where(address) -> str:
    return "%s:%s" % address if address else "?"


def _listed(datagrams: List[_Datagram], sent: bool) -> str:
    parts = []
    for d in datagrams[:_SHOWN]:
        text = "%d bytes %r" % (d.size, d.data)
        if sent:
            text += " from %s to %s" % (_where(d.local), _where(d.other))
            if d.requested is not None:
                text += " (addressed to %s)" % _requested(d.requested)
        else:
            text += " from %s" % _where(d.other)
        parts.append(text)
    if len(datagrams) > _SHOWN:
        parts.append("and %d more" % (len(datagrams) - _SHOWN))
    return "; ".join(parts) if parts else "nothing"


def _requested(requested) -> str:
    if isinstance(requested, list) and len(requested) == 2:
        return "(%r, %r)" % tuple(requested)
    return str(requested)


def explain_datagrams(run: PairRun, exercise: Exercise) -> Explanation:
    server, client = run.server, run.client
    client_ports = _ports(client)
    s_sent, c_sent = _sent(server), _sent(client)
    to_client = [d for d in s_sent if d.other and d.other[1] in client_ports]
    astray = [d for d in s_sent if d not in to_client]
    s_got, c_got = _received(server), _received(client)
    crossed = ["client -> server: the client sent %s; the server received %s"
               % (_listed(c_sent, True), _listed(s_got, False)),
               "server -> client: the server sent %s; the client received %s"
               % (_listed(to_client, True), _listed(c_got, False))]
    if astray:
        crossed.append("server -> elsewhere (not to the client's address): %s" % _listed(astray, True))
    verdict, matched = _verdict(run, exercise, s_got, c_sent, to_client, astray, c_got)
    return Explanation(_timeline(run), crossed, verdict, matched)


def _verdict(run: PairRun, exercise: Exercise, s_got, c_sent, to_client, astray, c_got) -> Tuple[List[str], bool]:
    server, client = run.server, run.client
    if run.listen_address is None:
        bound = _datagram_bind(server)
        if bound is None and _first(server, "listen", ok=True):
            return ["the server made a TCP socket (SOCK_STREAM) and listened: this lab is UDP, make it "
                    "socket.socket(socket.AF_INET, socket.SOCK_DGRAM); the client was not started"], False
        if bound is not None:
            return ["the server's UDP socket could not be reached on this machine's IPv4 loopback (bound "
                    "at %s), so the client was not started" % _requested(bound.get("address"))], False
        return ["the server never bound a UDP socket%s; the client was not started" % _crash(server)], False
    if run.ended_because == "deadlock":
        first = "the client waited in recvfrom() while the server waited in recvfrom(): both wait for the other (deadlock)"
        if not c_sent:
            first += "; the client must send its request first (the server learns the client's address from it)"
        return [first], False
    if not c_sent:
        stream = _first(client, "connect_return")
        if stream is not None:
            return ["the client made a TCP connection attempt (SOCK_STREAM): no one accepts connections in a "
                    "UDP lab; use socket.socket(socket.AF_INET, socket.SOCK_DGRAM) and sendto()"], False
        return ["the client never sent its request%s" % _crash(client)], False
    if not s_got:
        waited = _first(server, "datagram_recv_call")
        if waited is None:
            return ["the client sent %r, but the server never called recvfrom() to receive it%s"
                    % (c_sent[0].data, _crash(server))], False
        return ["the client sent %r, but the client's request never arrived in the server's recvfrom()%s"
                % (c_sent[0].data, _crash(server))], False
    request = s_got[0]
    if not to_client and astray:
        return ["the server replied to %s, not to the address the request came from (%s): the reply went "
                "elsewhere and the client never got it; send the reply to the address recvfrom() returned"
                % (_requested(astray[0].requested), _where(request.other))], False
    if not to_client:
        return ["the server received %r but never sent a reply%s" % (request.data, _crash(server))], False
    reply = to_client[0]
    notes = _exercise_notes(exercise, _as_connection(reply.data, request.data), _as_connection(b"", b""))
    if not c_got:
        if run.ended_because.startswith("the server ended; the client waits"):
            why = " (it waits in recvfrom() on another socket, or the datagram was lost)"
        else:
            why = _crash(client)
        return ["the server sent %r; the client never received it%s" % (reply.data, why)] + notes, False
    got = c_got[0]
    if got.size < reply.size and got.bufsize is not None and got.bufsize <= got.size:
        return ["the server sent %d bytes %r; the client's recvfrom(%d) buffer was too small and it got only "
                "%r: a datagram longer than the buffer is cut, and the rest is lost (give recvfrom() 1024)"
                % (reply.size, reply.data, got.bufsize, got.data)] + notes, False
    lines = [line.text for line in Facts.of(client).lines]
    shown = got.data.decode("utf-8", "replace").strip()
    if shown and any(contains_as_text(line, shown) for line in lines):
        return ["the server sent %r; the client received it and printed %s" % (reply.data, shown)] + notes, not notes
    if any(contains_as_bytes_repr(line, shown) for line in lines):
        return ["the server sent %r; the client printed %r because it did not decode (use .decode())"
                % (reply.data, got.data)] + notes, False
    printed = "; it printed: %s" % " / ".join(lines[:3]) if lines else "; it printed nothing"
    return ["the server sent %r; the client received %r but did not print it%s%s"
            % (reply.data, got.data, printed, _crash(client))] + notes, False


def _datagram_bind(trace: Trace) -> Optional[Dict]:
    for e in trace.events:
        if e.get("kind") == "bind" and e.get("ok") and e.get("type") == socket.SOCK_DGRAM \
                and e.get("pid") == trace.main_pid:
            return e
    return None


def _as_connection(sent: bytes, received: bytes) -> _Connection:
    """One datagram each way as ``pair``'s view of a connection (the exercise's notes read it)."""
    return _Connection(None, sent, received, len(sent), len(received), None, None)
