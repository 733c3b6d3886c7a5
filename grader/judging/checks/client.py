"""Judges of a client's steps, graded against the reference server (check ids ``client.*``)."""
from __future__ import annotations

import errno
from typing import Optional

from grader.judging import hints
from grader.judging.checks import Context, Fail, Here, Outcome, Pass, common, judge
from grader.judging.checks.facts import Facts, same_address
from grader.judging.matching import contains_as_bytes_repr, contains_as_text
from grader.report.bounds import quoted


# What a non-blocking connect reports while under way (the probe runs on this machine).
_IN_PROGRESS = {getattr(errno, name) for name in ("EINPROGRESS", "EALREADY", "EWOULDBLOCK", "EAGAIN",
                                                  "WSAEWOULDBLOCK") if hasattr(errno, name)}


@judge("connect", "client")
def connects(ctx: Context, here: Here) -> Outcome:
    facts = ctx.facts
    peer = facts.trace.peer
    expected = "connect() reaches the reference server"
    calls = facts.all("connect_call")
    if not calls:
        resolved = facts.exception
        if resolved is not None and resolved.get("error") in ("gaierror", "herror"):
            return Fail(expected, "looking up the server's name failed: " + str(resolved.get("message")),
                        hints.UNKNOWN_HOST)
        return Fail(expected, "the client never called connect()",
                    'Call s.connect((host, port)) with the server\'s address, e.g. ("localhost", 12345).')
    # A non-blocking connect (connect_ex, asyncio) starts with EINPROGRESS: pending, not failed.
    # The probe reports it connected once it has completed (by the program's next call on the
    # socket at the latest), so it is judged by what happened.
    connected = facts.first("connect_return", ok=True)
    if connected is None:
        failed = next((c for c in facts.all("connect_return")
                       if not c.ok and c.get("errno") not in _IN_PROGRESS), None)
        pending = facts.first("connect_return", ok=False)
        if failed is None and pending is not None:
            got = peer.connected and same_address(peer.program_address, pending.get("local"))
            return Fail(expected, "connect() was started without waiting (%s) and %s"
                        % (pending.get("error"),
                           "the reference server received the connection, but the program never "
                           "used the socket before it was stopped" if got else "never completed"),
                        "Wait for the connection to complete (select() for writing, or "
                        "s.setblocking(True) before connect()), then send and receive on it.")
        detail = "%s: %s" % (failed.get("error"), failed.get("message")) if failed else "it never returned"
        hint = hints.for_error(failed.get("error"), failed.get("message")) if failed else None
        return Fail(expected, "connect() failed: " + detail, hint)
    # The reference server must have accepted this very connection.
    if not peer.connected or not same_address(peer.program_address, connected.get("local")):
        return Fail(expected, "the reference server did not receive the connection")
    return Pass()


@judge("print_received", "client")
def prints_message(ctx: Context, here: Here) -> Outcome:
    """It printed what it received, in both runs: the second reference server sends something
    else (another message; echoing, a reply other than the line), so a fixed text fails."""
    what = "reply" if here.step.data == "echo" else "message"
    return common.prints_received(ctx, here.step, what, _message_problem, hints.PRINTS_CONSTANT)


def _message_problem(facts: Facts, message: str) -> Optional[tuple]:
    """None when a printed line contains ``message`` as text; else (what happened, hint)."""
    lines = [line.text for line in facts.lines]
    if any(contains_as_text(line, message) for line in lines):
        return None
    shown = next((line for line in lines if contains_as_bytes_repr(line, message)), None)
    if shown is not None:
        return 'it printed the bytes object: "%s"' % quoted(shown), hints.PRINT_BYTES
    receives = [c for c in facts.on_socket("recv_return", facts.connection) if c.ok]
    got = b"".join(c.get("data", "").encode("latin-1") for c in receives)
    sizes = [c.get("bufsize") for c in facts.on_socket("recv_call", facts.connection)]
    small = [s for s in sizes if isinstance(s, int) and s < len(message.encode())]
    if small and message.encode() not in got:
        return ("recv(%d) received only part of the message" % small[0],
                hints.RECV_TOO_SMALL.format(size=small[0], length=len(message.encode())))
    if not receives:
        return "it never received anything (no recv() call on the connected socket)", \
            "Call data = s.recv(1024) after connecting."
    shown = "; ".join('"%s"' % quoted(line) for line in lines[:4]) or "nothing"
    return "it printed %s" % shown, hints.PRINT_MESSAGE


@judge("send", "client")
def sends_line(ctx: Context, here: Here) -> Outcome:
    """The reference server received a line from the client (it chooses the text)."""
    facts = ctx.facts
    peer = facts.trace.peer
    expected = "the reference server receives a line of text from your client"
    if peer.received.strip():
        return Pass()
    failed_send = next((c for c in facts.all("send") if not c.ok), None)
    if failed_send is not None:
        return Fail(expected, "the reference server received nothing; %s() failed: %s: %s"
                    % (failed_send.get("via"), failed_send.get("error"), failed_send.get("message")),
                    hints.for_error(failed_send.get("error"), failed_send.get("message")))
    if peer.received:
        return Fail(expected, "the reference server received only white space",
                    'Send a line of text: s.sendall("hello\\n".encode()).')
    return Fail(expected, "the reference server received nothing",
                'Send your line on the socket after connecting: s.sendall("hello\\n".encode()).')


@judge("close", "client")
def closes(ctx: Context, here: Here) -> Outcome:
    return common.closes(ctx, "its socket")
