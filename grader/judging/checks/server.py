"""Judges of a server's steps, graded against the reference client (check ids ``server.*``)."""
from __future__ import annotations

import errno
import socket

from grader.judging import hints
from grader.judging.checks import Context, Fail, Here, Outcome, Pass, common, judge
from grader.judging.checks.facts import same_address
from grader.report.bounds import quoted
from grader.running.session import STALLED_RECV


@judge("listen", "server")
def listens(ctx: Context, here: Here) -> Outcome:
    facts = ctx.facts
    low, high = ctx.exercise.port_range
    expected = "bind() to a port in %d-%d, then listen(), before accept()" % (low, high)
    if any(c.get("type") == socket.SOCK_DGRAM for c in facts.all("socket")) and not facts.listening_sockets():
        return Fail(expected, "your socket is a UDP socket (SOCK_DGRAM), which cannot listen()", hints.UDP)
    first_accept = facts.first("accept_call")
    binds = facts.all("bind")
    listen = facts.first("listen", ok=True)
    if first_accept is not None and (listen is None or listen.position > first_accept.position):
        return Fail(expected, "accept() was called before listen()", hints.ACCEPT_BEFORE_LISTEN)
    if not binds:
        actual = "it never called bind()" + ("" if listen else " or listen()")
        return Fail(expected, actual, hints.NO_BIND)
    bind = binds[0]
    if not bind.ok:
        return Fail(expected, "bind(%s) failed: %s: %s" % (_shown(bind.get("requested")), bind.get("error"),
                                                         bind.get("message")),
                    'Give bind() a (host, port) pair, e.g. s.bind(("", 12345)).')
    requested = bind.get("requested")
    port = requested[1] if isinstance(requested, list) else None  # else not an IP address
    notes = ()
    if port == 0:
        notes = ("port 0 lets the operating system pick a port: your partner cannot know it in advance",)
    elif isinstance(port, int) and not low <= port <= high:
        return Fail(expected, "it bound port %d, a reserved port" % port, hints.RESERVED_PORT)
    if listen is None:
        return Fail(expected, "it never called listen()", "Call s.listen() after bind() and before accept().")
    # The probe's word is not proof: the OS must show the listening socket, and the reference
    # client must be able to connect to it (in a sandbox only the latter can be asked).
    if facts.trace.listen_verified is False or facts.trace.peer.connect_error:
        return Fail(expected, "no socket of your program was listening where it said it was",
                    "Listen with the socket you bound: s.bind(...), then s.listen().")
    return Pass(notes)


@judge("accept", "server")
def accepts(ctx: Context, here: Here) -> Outcome:
    facts = ctx.facts
    peer = facts.trace.peer
    expected = "accept() returns the reference client's connection"
    if not facts.listening_sockets():
        return Fail(expected, "the server never listened, so the reference client could not connect",
                    "Call bind() and listen() on the server socket, then accept().")
    if peer.connect_error:
        return Fail(expected, "the reference client could not connect: " + peer.connect_error)
    calls = facts.all("accept_call")
    if not calls:
        return Fail(expected, "the server never called accept()",
                    "Call conn, address = s.accept() to wait for the client.")
    accepted = facts.accepted
    if accepted is None:
        failed = facts.first("accept_return", ok=False)
        if failed is not None:
            hint = hints.ACCEPT_BEFORE_LISTEN if failed.get("errno") == errno.EINVAL else None
            return Fail(expected, "accept() failed: %s: %s" % (failed.get("error"), failed.get("message")), hint)
        return Fail(expected, "accept() never returned", hints.LOOPS_FOREVER)
    # The returned connection must be the reference client's (its address, as the client saw it).
    if not peer.connected or not same_address(peer.own_address, accepted.get("peer")):
        return Fail(expected, "the connection accept() returned was not the reference client's")
    # And it must really have been taken from the queue: the kernel showed a process holding it,
    # or the client got something only an accepted connection sends (data, an orderly close).
    inode = facts.trace.connection_inodes.get(accepted.position, 0)
    if inode == 0 and not peer.received_total and peer.ended != "eof":
        return Fail(expected, "the operating system shows the reference client's connection was never "
                              "accepted: it was still waiting in the server socket's queue",
                    "Call conn, address = s.accept() and use the connection it returns.")
    return Pass()


@judge("send", "server")
def sends_message(ctx: Context, here: Here) -> Outcome:
    """What the reference client received is the message (or, echoing, the line it sent)."""
    facts = ctx.facts
    peer = facts.trace.peer
    echo = here.step.data == "echo"
    message = common.expected_data(ctx, here.step, facts)
    expected = '"%s"' % message
    received = peer.received
    if received.strip() == message.encode():
        notes = []
        if len(peer.pieces) > 1:
            notes.append("it arrived in %d pieces" % len(peer.pieces))
        if received != received.strip() and not (echo and received == peer.sent):
            notes.append("the whitespace around the message was ignored")
        return Pass(tuple(notes))
    failed_send = next((c for c in facts.all("send") if not c.ok), None)
    if not received:
        actual = "the reference client received nothing"
        if failed_send is not None:
            actual += "; %s() failed: %s: %s" % (failed_send.get("via"), failed_send.get("error"),
                                                 failed_send.get("message"))
            hint = hints.SEND_ON_LISTENING if facts.sent_on_listening_socket() else \
                hints.for_error(failed_send.get("error"), failed_send.get("message"))
            return Fail(expected, actual, hint)
        if facts.trace.stopped_because == STALLED_RECV:
            return Fail(expected, actual + "; your server was waiting in recv()", hints.WAITS_FOR_CLIENT)
        if echo:
            return Fail(expected, actual, hints.ECHO_BACK)
        return Fail(expected, actual, "Send the message on the connected socket: conn.sendall(b\"%s\")." % message)
    text = received.decode("utf-8", "replace")
    hint = hints.ECHO_BACK if echo else hints.MESSAGE_TEXT.format(message=message)
    if text.strip() in ("b'%s'" % message, 'b"%s"' % message):
        hint = "You sent the text of a bytes literal. Send the bytes themselves: conn.sendall(b\"%s\")." % message
    return Fail(expected, 'the reference client received "%s"' % quoted(text), hint)


@judge("close", "server")
def closes(ctx: Context, here: Here) -> Outcome:
    return common.closes(ctx, "the connected socket (the one accept() returned)")


def _shown(address) -> str:
    if isinstance(address, list) and len(address) == 2:
        return "(%r, %r)" % tuple(address)
    return str(address)
