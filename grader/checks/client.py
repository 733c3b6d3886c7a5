"""Checks for a student's client, graded against the reference server (ids ``client.*``)."""
from __future__ import annotations

import errno
from typing import Optional

from grader import hints
from grader.checks import Context, Fail, Outcome, Pass, check, common
from grader.checks.facts import Facts, same_address
from grader.matching import STDERR, contains_as_bytes_repr, contains_as_text
from grader.report.bounds import quoted


# What a non-blocking connect reports while under way (the probe runs on this machine).
_IN_PROGRESS = {getattr(errno, name) for name in ("EINPROGRESS", "EALREADY", "EWOULDBLOCK", "EAGAIN",
                                                  "WSAEWOULDBLOCK") if hasattr(errno, name)}


@check("client.runs")
def runs(ctx: Context) -> Outcome:
    return common.runs(ctx)


@check("client.connecting_printed")
def connecting_printed(ctx: Context) -> Outcome:
    return common.printed_before_call(ctx, ctx.exercise.client_lines["connecting"], "connect_call",
                                      "connect()", "connect() never reached the reference server")


@check("client.connects")
def connects(ctx: Context) -> Outcome:
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


@check("client.waiting_printed")
def waiting_printed(ctx: Context) -> Outcome:
    facts = ctx.facts
    connected = facts.first("connect_return", ok=True)
    receives = facts.on_socket("recv_call", facts.connection)
    before = receives[0].position if receives else None
    return common.printed(ctx, ctx.exercise.client_lines["waiting"], after=connected.position,
                          before=before, after_what="connecting",
                          before_what="the first recv()" if receives else "")


@check("client.prints_message")
def prints_message(ctx: Context) -> Outcome:
    message = ctx.exercise.message
    expected = 'a line with the message it received, "%s", as text' % message
    problem = _message_problem(ctx.facts, message)
    if problem is not None:
        actual, hint = problem
        return Fail(expected, actual, hint)
    if ctx.other_facts is not None:
        problem = _message_problem(ctx.other_facts, ctx.other_message)
        if problem is not None:
            constant = any(contains_as_text(line.text, message) for line in ctx.other_facts.lines)
            return Fail('the message the server sent, whatever it is (here "%s")' % ctx.other_message,
                        'your client did not print "%s" when the server sent that: %s'
                        % (ctx.other_message, problem[0]),
                        hints.PRINTS_CONSTANT.format(message=message, other=ctx.other_message)
                        if constant else problem[1])
    shown = [line for line in ctx.facts.lines if contains_as_text(line.text, message)]
    if shown and all(line.stream == STDERR for line in shown):
        return Pass(("you printed the message to stderr (the error output); it shows on the console, "
                     "so it counts, but print() writes to stdout, where it belongs",))
    return Pass()


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


@check("client.closes")
def closes(ctx: Context) -> Outcome:
    return common.closes(ctx, "its socket")


@check("client.exits")
def exits(ctx: Context) -> Outcome:
    return common.exits(ctx)
