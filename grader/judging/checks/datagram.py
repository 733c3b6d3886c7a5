"""Judges of the datagram (UDP) step kinds: bind, recvfrom, sendto, reply, and what print,
print_received, close, runs and exits mean over datagrams (check ids ``server.*``/``client.*``).

No connection here: what the program sent is what the reference counterpart received
(``Trace.datagrams``), and that a socket is the program's is the kernel's word
(``datagrams.program_socket``, ``open_at_end``).  The probe's events say where in the program
each call happened; alone they never pass a check that rests on the counterpart or the kernel.
Imported only when a datagram exercise is judged (``grader.judging.checks._TRANSPORT_JUDGES``).
"""
from __future__ import annotations

from typing import List, Optional, Tuple

from grader.judging import hints
from grader.judging.checks import Context, Fail, Here, Outcome, Pass, Skip, common, judge
from grader.judging.checks.facts import Call, Facts, same_address
from grader.judging.matching import contains_as_bytes_repr, contains_as_text
from grader.running.peers_udp import Datagram, DatagramObservation
from grader.report.bounds import quoted
from grader.running.session import DEFAULT_REQUEST, STALLED_ACCEPT_UDP, STALLED_RECVFROM, STOPPED_TIME_LIMIT
from grader.exercises.steps import SERVER

UDP = "udp"
_NOTHING_SEEN = DatagramObservation()


def _seen(facts: Facts) -> DatagramObservation:
    return facts.trace.datagrams or _NOTHING_SEEN


def _sent_text(ctx: Context) -> str:
    """What the graded program sends: a server the message, a client its request."""
    if ctx.role == SERVER:
        return ctx.exercise.message
    return ctx.exercise.request or DEFAULT_REQUEST.decode()


def _stream_socket(ctx: Context, expected: str) -> Optional[Fail]:
    if ctx.facts.stream_sockets_only():
        return Fail(expected, "your socket is a TCP socket (SOCK_STREAM), not a UDP one",
                    hints.STREAM_IN_DATAGRAM_LAB)
    return None


def _send_failure(ctx: Context) -> Optional[Tuple[str, Optional[str]]]:
    """(what happened, hint) when a sendto()/send() raised an error; else None."""
    failed = next(iter(ctx.facts.datagram_sends(ok=False)), None)
    if failed is None:
        return None
    actual = "%s() failed: %s: %s" % (failed.get("via"), failed.get("error"), failed.get("message"))
    hint = hints.for_error(failed.get("error"), failed.get("message"))
    if hint == hints.SEND_STR:
        hint = _send_str_hint(ctx)
    return actual, hint


# -- runs and exits: as for TCP, with datagram advice --------------------------------------------

@judge("runs", transport=UDP)
def runs(ctx: Context, here: Here) -> Outcome:
    outcome = common.runs(ctx)
    # The role a batch reads from the code (listen/accept vs connect) says nothing of a UDP
    # program: a UDP server may connect() to its sender.
    other = common.other_role(ctx)
    if isinstance(outcome, Pass):
        return Pass(tuple(n for n in outcome.notes if n != other))
    if not isinstance(outcome, Fail):
        return outcome
    if ctx.facts.stream_sockets_only():
        return outcome._replace(hint=hints.STREAM_IN_DATAGRAM_LAB)
    if other is not None and outcome.hint == other:
        error = ctx.facts.exception
        outcome = outcome._replace(hint=(error is not None and hints.for_error(
            error.get("error"), error.get("message"), error.get("traceback", ""))) or
            "Read the error above and the line it points to.")
    if outcome.hint == hints.SEND_STR:
        return outcome._replace(hint=_send_str_hint(ctx))
    if outcome.hint == hints.NO_SOCKET:
        return outcome._replace(hint=hints.DATAGRAM_NO_SOCKET)
    return outcome


def _send_str_hint(ctx: Context) -> str:
    return hints.DATAGRAM_SEND_STR.format(message=_sent_text(ctx),
                                          address="address" if ctx.role == SERVER else "(host, port)")


@judge("exits", transport=UDP)
def exits(ctx: Context, here: Here) -> Outcome:
    facts = ctx.facts
    trace = facts.trace
    stopped = trace.stopped_because
    if stopped not in (STALLED_RECVFROM, STALLED_ACCEPT_UDP):
        return common.exits(ctx)
    expected = "it ends by itself with exit status 0 within %g s" % trace.time_limit
    if stopped == STALLED_ACCEPT_UDP:
        hint = hints.STREAM_IN_DATAGRAM_LAB
    elif ctx.role == SERVER:
        if not facts.datagram_received():
            hint = hints.DATAGRAM_NO_REQUEST
        elif facts.datagram_sends():
            hint = hints.DATAGRAM_SERVES_FOREVER
        else:
            hint = hints.DATAGRAM_WAITS_AGAIN
    else:
        hint = hints.DATAGRAM_SEND_FIRST if not facts.datagram_sends() else hints.DATAGRAM_WAITS_AGAIN
    return Fail(expected, "it was %s, which can never happen, so it was stopped" % stopped, hint)


# -- the socket steps -----------------------------------------------------------------------------

@judge("bind", transport=UDP)
def binds(ctx: Context, here: Here) -> Outcome:
    """Bound a UDP socket to an unreserved port: the probe says where, the kernel that a socket
    of the program is bound there, and the reference client sent its request to it."""
    facts = ctx.facts
    seen = _seen(facts)
    low, high = ctx.exercise.port_range
    expected = "bind() a UDP socket (SOCK_DGRAM) to a port in %d-%d" % (low, high)
    wrong = _stream_socket(ctx, expected)
    if wrong:
        return wrong
    bind = facts.datagram_bind
    if bind is None:
        return Fail(expected, "it never called bind() on its UDP socket", hints.DATAGRAM_NO_BIND)
    if not bind.ok:
        return Fail(expected, "bind(%s) failed: %s: %s" % (bind.get("requested"), bind.get("error"),
                                                         bind.get("message")),
                    'Give bind() a (host, port) pair, e.g. s.bind(("", 12345)).')
    requested = bind.get("requested")
    port = requested[1] if isinstance(requested, list) and len(requested) == 2 else None
    notes: Tuple[str, ...] = ()
    if port == 0:
        notes = ("port 0 lets the operating system pick a port: your partner cannot know it in advance",)
    elif isinstance(port, int) and not low <= port <= high:
        return Fail(expected, "it bound port %d, a reserved port" % port, hints.RESERVED_PORT)
    if seen.program_socket == 0 or seen.program_address is None or not seen.sent:
        return Fail(expected, "the operating system showed no UDP socket of your program bound where it said, "
                              "so the reference client could not send its request",
                    'Bind the socket you receive on: s.bind(("", 12345)), then s.recvfrom(1024) on it.')
    return Pass(notes)


@judge("recvfrom", transport=UDP)
def receives(ctx: Context, here: Here) -> Outcome:
    """recvfrom() returned the counterpart's datagram, from the counterpart's address."""
    facts = ctx.facts
    seen = _seen(facts)
    other = "reference client" if ctx.role == SERVER else "reference server"
    expected = "recvfrom() returns the datagram the %s sent" % other
    wrong = _stream_socket(ctx, expected)
    if wrong:
        return wrong
    calls = facts.all("datagram_recv_call")
    if not seen.sent or seen.program_socket == 0:
        if ctx.role == SERVER and facts.datagram_bind is None:
            return Fail(expected, "the %s had no port of your program to send to: the socket was never bound"
                        % other, hints.DATAGRAM_NO_BIND)
        if not calls:
            return Fail(expected, "it never called recvfrom()", hints.DATAGRAM_RECEIVE)
        return Fail(expected, "the %s sent nothing to a socket your program holds" % other,
                    hints.DATAGRAM_NO_BIND if ctx.role == SERVER else hints.DATAGRAM_SEND_REQUEST)
    wanted = seen.sent[0].data
    for call in facts.datagram_received():
        if call.get("data", "").encode("latin-1") == wanted and same_address(call.get("peer"), seen.own_address):
            return Pass()
    if not calls:
        return Fail(expected, "it never called recvfrom()", hints.DATAGRAM_RECEIVE)
    got = [c.get("data", "") for c in facts.datagram_received()]
    return Fail(expected, "it received %s" % ("; ".join('"%s"' % quoted(g) for g in got[:3]) or "nothing"),
                hints.DATAGRAM_RECEIVE)


def _arrived(seen: DatagramObservation) -> List[Datagram]:
    """Every datagram the program sent that reached the counterpart, wherever it was addressed,
    in the order they arrived."""
    return sorted(seen.received + seen.elsewhere, key=lambda d: d.at)


@judge("sendto", transport=UDP)
def sends(ctx: Context, here: Here) -> Outcome:
    """What reached the counterpart: with ``"data": "message"`` the first datagram is exactly the
    message (whitespace around it ignored, as for TCP); with ``"request"`` any datagram."""
    facts = ctx.facts
    seen = _seen(facts)
    other = "reference client" if ctx.role == SERVER else "reference server"
    exact = here.step.data == "message"
    message = common.expected_data(ctx, here.step, facts)
    expected = '"%s"' % message if exact else "the %s receives a datagram from your %s" % (other, ctx.role)
    arrived = [d for d in _arrived(seen) if d.program_alive is not False]
    if arrived and seen.program_socket != 0:
        if not exact:
            return Pass()
        first = arrived[0].data
        if first.strip() == message.encode():
            notes = ("the whitespace around the message was ignored",) if first != first.strip() else ()
            if len(arrived) > 1:
                notes += ("your %s sent %d datagrams; the first one counts" % (ctx.role, len(arrived)),)
            return Pass(notes)
        text = first.decode("utf-8", "replace")
        hint = hints.MESSAGE_TEXT.format(message=message)
        if text.strip() in ("b'%s'" % message, 'b"%s"' % message):
            hint = hints.DATAGRAM_BYTES_REPR.format(message=message)
        return Fail(expected, 'the %s received "%s"' % (other, quoted(text)), hint)
    if arrived:  # the kernel showed no socket of the program where it came from
        return Fail(expected, "a datagram arrived, but not from a socket your program holds")
    failure = _send_failure(ctx)
    if failure is not None:
        return Fail(expected, "the %s received nothing; %s" % (other, failure[0]), failure[1])
    wrong = _stream_socket(ctx, expected)
    if wrong:
        return wrong
    if ctx.role == SERVER:
        return Fail(expected, "no datagram from your server arrived", hints.DATAGRAM_SEND_MESSAGE.format(message=message))
    if facts.trace.stopped_because == STALLED_RECVFROM:
        return Fail(expected, "the reference server received nothing; your client was waiting in recvfrom()",
                    hints.DATAGRAM_SEND_FIRST)
    return Fail(expected, "the reference server received nothing", hints.DATAGRAM_SEND_REQUEST)


@judge("reply", transport=UDP)
def replies_to_sender(ctx: Context, here: Here) -> Outcome:
    """The reply reached the counterpart's own socket, the address the request came from."""
    facts = ctx.facts
    seen = _seen(facts)
    expected = "the reply reaches %s, the address the request came from" % _address(seen.own_address)
    if any(d.program_alive is not False for d in seen.received):
        return Pass()
    if seen.elsewhere:
        send = next((c for c in facts.datagram_sends() if c.get("requested")), None)
        where = _address(send.get("requested")) if send is not None else "another address"
        return Fail(expected, "the reply went to %s, not to the reference client" % where,
                    hints.REPLY_TO_SENDER.format(address=where))
    failure = _send_failure(ctx)
    if failure is not None:
        return Fail(expected, "no reply arrived; %s" % failure[0], failure[1])
    return Fail(expected, "no reply arrived", hints.DATAGRAM_SEND_MESSAGE.format(message=ctx.exercise.message))


def _address(address) -> str:
    if isinstance(address, (list, tuple)) and len(address) == 2:
        return "(%r, %r)" % tuple(address)
    return str(address)


# -- console lines --------------------------------------------------------------------------------

_CALL_NAMES = {"recvfrom": ("datagram_recv_call", "recvfrom()"), "sendto": ("datagram_send", "sendto()")}


@judge("print", transport=UDP)
def print_step(ctx: Context, here: Here) -> Outcome:
    """The line printed after the completed datagram step before it, and before the next one
    (steps.neighbours): "before the first recvfrom()", "after recvfrom() returned"..."""
    text = here.step.text
    after_step, before_step = here.neighbours
    facts = ctx.facts
    after, after_what = None, ""
    if after_step is not None:
        done = _completed(ctx, after_step)
        if done is None:
            return Skip("the %s never got past %s" % (ctx.role, _CALL_NAMES[after_step.kind][1]))
        after = done.position
        after_what = "recvfrom() returned" if after_step.kind == "recvfrom" else "the datagram was sent"
    if before_step is None:
        return common.printed(ctx, text, after=after, after_what=after_what)
    kind, name = _CALL_NAMES[before_step.kind]
    call = facts.first(kind)
    if call is None:
        if after is not None:  # it never got there: the line after the previous step still counts
            return common.printed(ctx, text, after=after, after_what=after_what)
        wrong = _stream_socket(ctx, 'a line "%s" before %s' % (text, name))
        if wrong:
            return wrong._replace(actual="it never called %s: %s" % (name, wrong.actual))
        return Fail('a line "%s" before %s' % (text, name), "it never called %s" % name,
                    hints.DATAGRAM_RECEIVE if before_step.kind == "recvfrom" else hints.DATAGRAM_SEND_REQUEST)
    return common.printed(ctx, text, after=after, before=call.position, after_what=after_what,
                          before_what="the first %s" % name)


def _completed(ctx: Context, step) -> Optional[Call]:
    """The probe event that completed ``step``: the first datagram received, or the send that
    sent what the step sends (the first send when none did)."""
    facts = ctx.facts
    if step.kind == "recvfrom":
        received = facts.datagram_received()
        return received[0] if received else None
    sends = facts.datagram_sends()
    if not sends:
        return None
    if step.data == "message":
        wanted = common.expected_data(ctx, step, facts).encode()
        return next((c for c in sends if c.get("data", "").encode("latin-1").strip() == wanted), sends[0])
    return sends[0]


@judge("print_received", transport=UDP)
def prints_received(ctx: Context, here: Here) -> Outcome:
    """It printed, as text, the datagram the counterpart sent, in both runs: the second reference
    server sends another message, so a fixed text fails."""
    return common.prints_received(ctx, here.step, "message", _message_problem,
                                  hints.DATAGRAM_PRINTS_CONSTANT)


def _message_problem(facts: Facts, message: str) -> Optional[Tuple[str, str]]:
    """None when the counterpart sent ``message`` and a console line shows it as text; else
    (what happened, hint)."""
    sent = _seen(facts).sent
    if not sent or sent[0].data != message.encode():
        return "the reference server never sent its reply (no request reached it)", hints.DATAGRAM_SEND_REQUEST
    lines = [line.text for line in facts.lines]
    if any(contains_as_text(line, message) for line in lines):
        return None
    shown = next((line for line in lines if contains_as_bytes_repr(line, message)), None)
    if shown is not None:
        return 'it printed the bytes object: "%s"' % quoted(shown), hints.PRINT_BYTES
    length = len(message.encode())
    small = [c.get("bufsize") for c in facts.all("datagram_recv_call")
             if isinstance(c.get("bufsize"), int) and c.get("bufsize") < length]
    if small:
        return ("recvfrom(%d) received only the first %d bytes of the %d-byte reply" % (small[0], small[0], length),
                hints.DATAGRAM_RECV_TOO_SMALL.format(size=small[0], length=length))
    if not facts.datagram_received():
        return "it never received the reply (no recvfrom() returned it)", hints.DATAGRAM_RECEIVE_REPLY
    shown_lines = "; ".join('"%s"' % quoted(line) for line in lines[:4]) or "nothing"
    return "it printed %s" % shown_lines, hints.PRINT_MESSAGE


# -- closing ---------------------------------------------------------------------------------------

@judge("close", transport=UDP)
def closes(ctx: Context, here: Here) -> Outcome:
    """It called close() on its UDP socket (or left a with block), and the kernel shows the
    program no longer held that socket when the session ended."""
    facts = ctx.facts
    expected = "your program closes its socket itself"
    sock = facts.datagram_socket
    close = facts.closed(sock)
    held = facts.datagram_socket_open_at_end
    if close is not None:
        if held is False:
            return Pass()
        if held is True:
            return Fail(expected, "it called close(), but the socket stayed open",
                        "Something else still holds your socket open (a child process, or a copy made with "
                        "dup()). Close those too.")
        return Skip("the operating system could not be asked whether the socket was closed")
    stopped = facts.trace.stopped_because
    if stopped:
        return Fail(expected, "the program was stopped before it closed its socket (it was %s)"
                    % ("still running at the time limit" if stopped == STOPPED_TIME_LIMIT else stopped),
                    "First fix what kept it from ending (see %s.exits); then call close() on the socket."
                    % ctx.role)
    crash = facts.exception
    if crash is not None and not common.input_after_closing(facts):
        where = " on line %s" % crash.get("lineno") if crash.get("lineno") else ""
        return Fail(expected, "it crashed (%s%s) before it closed its socket" % (crash.get("error"), where),
                    "First fix the error shown under %s.runs; then call close() on the socket." % ctx.role)
    return Fail(expected, "it never called close() on its socket; it closed only when the program ended",
                hints.DATAGRAM_NEVER_CLOSED)
