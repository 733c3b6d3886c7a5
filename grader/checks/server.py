"""Checks for a student's server, graded against the reference client (ids ``server.*``)."""
from __future__ import annotations

import errno
import socket

from grader import hints
from grader.checks import Context, Fail, Outcome, Pass, Skip, check, common
from grader.checks.facts import same_address
from grader.report.bounds import quoted
from grader.session import STALLED_RECV


@check("server.runs")
def runs(ctx: Context) -> Outcome:
    return common.runs(ctx)


@check("server.listens")
def listens(ctx: Context) -> Outcome:
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


@check("server.waiting_printed")
def waiting_printed(ctx: Context) -> Outcome:
    return common.printed_before_call(ctx, ctx.exercise.server_lines["waiting"], "accept_call",
                                      "accept()", "the reference client could not connect to your server")


@check("server.accepts")
def accepts(ctx: Context) -> Outcome:
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


@check("server.accepted_printed")
def accepted_printed(ctx: Context) -> Outcome:
    return common.printed(ctx, ctx.exercise.server_lines["accepted"], after=ctx.facts.accepted.position,
                          after_what="accept() returned")


@check("server.sends_message")
def sends_message(ctx: Context) -> Outcome:
    facts = ctx.facts
    peer = facts.trace.peer
    message = ctx.exercise.message
    expected = '"%s"' % message
    received = peer.received
    if received.strip() == message.encode():
        notes = []
        if len(peer.pieces) > 1:
            notes.append("it arrived in %d pieces" % len(peer.pieces))
        if received != received.strip():
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
        return Fail(expected, actual, "Send the message on the connected socket: conn.sendall(b\"%s\")." % message)
    text = received.decode("utf-8", "replace")
    hint = hints.MESSAGE_TEXT.format(message=message)
    if text.strip() in ("b'%s'" % message, 'b"%s"' % message):
        hint = "You sent the text of a bytes literal. Send the bytes themselves: conn.sendall(b\"%s\")." % message
    return Fail(expected, 'the reference client received "%s"' % quoted(text), hint)


@check("server.sent_printed")
def sent_printed(ctx: Context) -> Outcome:
    facts = ctx.facts
    sends = [c for c in facts.on_socket("send", facts.connection) if c.ok]
    if not sends:
        return Skip("the server sent nothing on the connection")
    # The send that completed the message (or the last one when it never was complete).
    message, data, completing = ctx.exercise.message.encode(), b"", sends[-1]
    for call in sends:
        data += call.get("data", "").encode("latin-1")
        if message in data:
            completing = call
            break
    return common.printed(ctx, ctx.exercise.server_lines["sent"], after=completing.position,
                          after_what="the message was sent")


@check("server.closes")
def closes(ctx: Context) -> Outcome:
    return common.closes(ctx, "the connected socket (the one accept() returned)")


@check("server.exits")
def exits(ctx: Context) -> Outcome:
    return common.exits(ctx)


def _shown(address) -> str:
    if isinstance(address, list) and len(address) == 2:
        return "(%r, %r)" % tuple(address)
    return str(address)
