"""What server and client judges share: running, ending, printing a line in the right place,
and what a send step's data stands for."""
from __future__ import annotations

import re
from typing import Optional, Tuple

from grader.judging import hints
from grader.batch.roles import role_from_code
from grader.judging.checks import Context, Fail, Here, Outcome, Pass, Skip, judge
from grader.judging.checks.facts import Facts
from grader.judging.matching import (STDERR, LineMatch, closest, contains_as_text, difference_note,
                                     find_line, matches)
from grader.report.bounds import quoted
from grader.running.session import STALLED_ACCEPT, STALLED_RECV, STALLED_RECV_FIRST, STOPPED_TIME_LIMIT
from grader.exercises.steps import Step

# `if __name__ == "main":` (either way round, any quotes): never true, so its block never runs.
_MAIN_GUARD = re.compile(r"""__name__\s*==\s*(['"])main\1|(['"])main\2\s*==\s*__name__""")
_ROLE_CALLS = {"server": "bind(), listen() and accept()", "client": "connect()"}


def expected_data(ctx: Context, step: Step, facts: Facts) -> str:
    """The text a send (or the print of a reply) is judged against, in the run of ``facts``:
    the exercise's message (the client's second run: the other message), or, echoing, what the
    reference counterpart sent in that run."""
    if step.data == "echo":
        return facts.trace.peer.sent.decode("utf-8", "replace").strip()
    if facts is ctx.other_facts:
        return ctx.other_message
    return ctx.exercise.message


@judge("runs", transport=None)
def runs_step(ctx: Context, here: Here) -> Outcome:
    return runs(ctx)


@judge("exits", transport=None)
def exits_step(ctx: Context, here: Here) -> Outcome:
    return exits(ctx)


# How a print names the socket step it comes before: (probe event, name, why it proves nothing).
_WAITING_CALLS = {
    "accept": ("accept_call", "accept()", "the reference client could not connect to your server"),
    "connect": ("connect_call", "connect()", "connect() never reached the reference server"),
    "recv": ("recv_call", "recv()", "the program never received anything"),
}
_DONE = {"accept": "accept() returned", "connect": "connecting", "recv": "receiving"}
_SENT = {"message": "the message was sent", "echo": "the line was sent back", "line": "the line was sent"}


@judge("print")
def print_step(ctx: Context, here: Here) -> Outcome:
    """The line printed after the completed step before it and before the waiting step after
    it (steps.neighbours)."""
    text = here.step.text
    after_step, before_step = here.neighbours
    facts = ctx.facts
    if after_step is None:
        if before_step is None:
            return printed(ctx, text)
        kind, name, unreached = _WAITING_CALLS[before_step.kind]
        return printed_before_call(ctx, text, kind, name, unreached)
    if after_step.kind == "send":
        completing = _completing_send(ctx, after_step)
        if completing is None:
            return Skip("the %s sent nothing on the connection" % ctx.role)
        after, after_what = completing.position, _SENT.get(after_step.data, "the message was sent")
    else:
        done = {"accept": facts.accepted, "connect": facts.first("connect_return", ok=True),
                "recv": next((c for c in facts.on_socket("recv_return", facts.connection) if c.ok), None)
                }[after_step.kind]
        if done is None:
            return Skip("the %s never got past %s" % (ctx.role, after_step.kind + "()"))
        after, after_what = done.position, _DONE[after_step.kind]
    if before_step is None:
        return printed(ctx, text, after=after, after_what=after_what)
    calls = facts.on_socket(_WAITING_CALLS[before_step.kind][0], facts.connection)
    return printed(ctx, text, after=after, before=calls[0].position if calls else None,
                   after_what=after_what, before_what="the first %s()" % before_step.kind if calls else "")


def _completing_send(ctx: Context, step: Step):
    """The send that completed what the step sends (or the last one when it never was
    complete); None when nothing was sent on the connection."""
    facts = ctx.facts
    sends = [c for c in facts.on_socket("send", facts.connection) if c.ok]
    if not sends:
        return None
    wanted = expected_data(ctx, step, facts).encode() if step.data != "line" else b"\n"
    data, completing = b"", sends[-1]
    for call in sends:
        data += call.get("data", "").encode("latin-1")
        if wanted in data:
            return call
    return completing


@judge("recv")
def receives(ctx: Context, here: Here) -> Outcome:
    """It received what the reference counterpart sent, on the connection."""
    facts = ctx.facts
    sent = facts.trace.peer.sent
    got = b"".join(c.get("data", "").encode("latin-1") for c in facts.on_socket("recv_return", facts.connection)
                   if c.ok)
    expected = "recv() returns what the %s sent" % ("reference client" if ctx.role == "server" else "reference server")
    if sent and sent.strip() and sent.strip() in got:
        return Pass()
    if not facts.on_socket("recv_call", facts.connection):
        return Fail(expected, "it never called recv() on the connected socket",
                    "Call data = conn.recv(1024) on the connected socket.")
    return Fail(expected, "it received %r" % got[:200], "Receive on the connected socket with a large enough "
                "buffer: data = conn.recv(1024).")


def runs(ctx: Context) -> Outcome:
    facts = ctx.facts
    trace = facts.trace
    expected = "your program runs under Python 3 without an error"
    if ctx.shadowed_socket:
        return Fail(expected, "a file named socket.py sits next to your program", hints.SHADOWED_SOCKET)
    error = facts.syntax_error
    if error is not None:
        line = error.get("lineno")
        if line is None:  # Python could not compile the file at all (too deep, null bytes)
            actual = str(error.get("error") or "SyntaxError") + (
                ": " + error.get("message") if error.get("message") else "")
            hint = hints.COMPILE_LIMIT if error.get("error") in ("MemoryError", "RecursionError") else \
                "Python could not read your file: %s. Save it again as plain text." % error.get("message")
            return Fail(expected, actual, hint)
        actual = "%s on line %s: %s" % (error.get("error"), line, error.get("message"))
        if error.get("text"):
            actual += "\n    " + error.get("text").strip()
        hint = hints.for_error(error.get("error"), error.get("message")) or \
            hints.SYNTAX.format(line=line)
        return Fail(expected, actual, hint)
    if not facts.started:
        tail = facts.trace.output.stderr.text.strip().splitlines()[-1:] or ["no output"]
        return Fail(expected, "your program did not start: " + tail[0])
    error = facts.exception
    if error is None and trace.finished_status is None and trace.stopped_because is None \
            and trace.exit_status not in (None, 0):
        # The process ended by itself with an error status, and the probe never saw the code
        # finish: the real exit status, not the probe's silence, decides.
        tail = trace.output.stderr.text.strip().splitlines()[-1:]
        return Fail(expected, "it ended with exit status %d before its code finished%s"
                    % (trace.exit_status, ": " + tail[0][:300] if tail else ""),
                    "Read the error your program printed and the line it points to.")
    if error is not None and input_after_closing(facts):
        return Pass((INPUT_AT_END,))
    if error is not None:
        where = " on line %s" % error.get("lineno") if error.get("lineno") else ""
        actual = "%s%s: %s" % (error.get("error"), where, error.get("message"))
        hint = hints.SEND_ON_LISTENING if facts.sent_on_listening_socket() else \
            hints.for_error(error.get("error"), error.get("message"), error.get("traceback", ""))
        return Fail(expected, actual, other_role(ctx) or hint or "Read the error above and the line it points to.")
    killed = _killed_by_signal(ctx)
    if killed:
        if trace.output.disk_exceeded:
            return Fail(expected, "it was stopped because it " + trace.output.disk_exceeded,
                        "Your program writes too much into files. The lab needs no files at all.")
        return Fail(expected, killed, "Your program used too much memory or CPU time, or wrote too much.")
    if not facts.made_socket:
        if _MAIN_GUARD.search(_source_text(ctx)):
            return Fail("a program that does the lab's steps",
                        'it ran, but never created a socket: the code under if __name__ == "main": '
                        "never runs", hints.MAIN_GUARD)
        return Fail("a program that does the lab's steps", "it ran, but never created a socket",
                    hints.TEMPLATE if ctx.is_template else hints.NO_SOCKET)
    other = other_role(ctx)
    return Pass((other,) if other else ())


INPUT_AT_END = ("input() after your sockets were closed ended the program (nobody types during "
                "grading); that is fine, the lab's steps were all done by then")


def input_after_closing(facts) -> bool:
    """The program's uncaught error is input() finding no one to type, called after every
    socket it made was closed (policy 6): a "press Enter to exit" pause, not a step of the lab.
    input() for a host, port or message comes before a socket is closed, and stays a failure."""
    error = facts.exception
    if error is None or error.get("error") != "EOFError" or \
            "EOF when reading a line" not in str(error.get("message") or ""):
        return False
    main = facts.trace.main_pid
    made = {c.sock for c in facts.all("socket") if c.get("pid") == main}
    made |= {(c.get("pid"), c.get("conn")) for c in facts.all("accept_return") if c.ok and c.get("pid") == main}
    if not made:
        return False
    closed = {c.sock for c in facts.all("close") if c.position < error.position}
    return made <= closed


def _source_text(ctx: Context) -> str:
    return ctx.source[:200_000].decode("utf-8", "replace")


def other_role(ctx: Context) -> Optional[str]:
    """When the code plays the other role (judged as a batch judges it, from the calls it
    makes), the sentence saying so and the command to grade it with; else None."""
    looks = role_from_code(_source_text(ctx)) if ctx.source else None
    if looks is None or looks == ctx.role:
        return None
    return hints.OTHER_ROLE.format(other=looks, calls=_ROLE_CALLS.get(looks, "its calls"), role=ctx.role,
                                   file=_shell_word(ctx.file or "FILE"))


def _shell_word(path: str) -> str:
    return '"%s"' % path if any(c in path for c in " '&;()") else path


def _killed_by_signal(ctx: Context) -> Optional[str]:
    trace = ctx.facts.trace
    status = trace.output.exit_status
    if trace.stopped_because is None and trace.finished_status is None and status is not None and status < 0:
        return "the operating system stopped your program (signal %d)" % -status
    return None


def exits(ctx: Context) -> Outcome:
    trace = ctx.facts.trace
    expected = "it ends by itself with exit status 0 within %g s" % trace.time_limit
    if trace.stopped_because == STOPPED_TIME_LIMIT:
        return Fail(expected, "it was still running after %g s and was stopped" % trace.time_limit,
                    other_role(ctx) or _why_still_running(ctx))
    if trace.stopped_because:
        hint = hints.LOOPS_FOREVER_ACCEPT if trace.stopped_because == STALLED_ACCEPT else hints.WAITS_FOR_CLIENT
        if trace.stopped_because == STALLED_RECV and trace.peer.received_total:
            hint = hints.WAITS_AFTER_SENDING  # it did send: "send first" would not be true
        if trace.stopped_because == STALLED_RECV_FIRST:
            hint = hints.SEND_FIRST
        return Fail(expected, "it was %s, which can never happen, so it was stopped" % trace.stopped_because, hint)
    killed = _killed_by_signal(ctx)
    if killed or trace.exit_status is None:
        return Fail(expected, killed or "it did not end by itself", hints.LOOPS_FOREVER)
    if trace.exit_status != 0 and input_after_closing(ctx.facts):
        return Pass((INPUT_AT_END,))
    if trace.exit_status != 0:
        return Fail(expected, "it ended with exit status %d" % trace.exit_status,
                    hints.EXIT_STATUS.format(status=trace.exit_status, check=ctx.role + ".runs"))
    return Pass()


def closes(ctx: Context, what: str) -> Outcome:
    """The program closed its connection itself: it called close() (or left a with block) and the
    reference counterpart saw the connection end while the program was still running."""
    facts = ctx.facts
    peer = facts.trace.peer
    connection = facts.connection
    expected = "your program closes %s itself" % what
    close = facts.closed(connection)
    notes = tuple("you never closed the server socket; closing it too is good practice"
                  for sock in facts.listening_sockets()[:1] if facts.closed(sock) is None)
    held = facts.connection_open_at_end
    if peer.closed_by_program and held:
        # The connection ended, but the kernel shows the program still holding the socket.
        if facts.on_socket("shutdown", connection):
            return Fail(expected, "it called shutdown(), which ends the connection, but never closed "
                                  "the socket", hints.SHUTDOWN_NOT_CLOSED)
        return Fail(expected, "the connection ended, but your program still held the socket open",
                    hints.NEVER_CLOSED)
    if close is not None and peer.closed_by_program:
        if peer.ended == "reset":
            notes += ("closing with unread data made the connection reset; read everything first",)
        if peer.hung_up:
            notes += ("your server waited in recv() after sending; the reference client then closed "
                      "its side, as the handout's client does, and your server closed after it",)
        return Pass(notes)
    if close is None:
        if peer.closed_by_program and facts.on_socket("shutdown", connection):
            return Fail(expected, "it called shutdown(), which ends the connection, but never closed "
                                  "the socket", hints.SHUTDOWN_NOT_CLOSED)
        if peer.closed_by_program:
            return Fail(expected, "the connection closed only when Python threw the socket away",
                        hints.GC_CLOSED)
        if any(facts.closed(sock) for sock in facts.listening_sockets()):
            return Fail(expected, "it closed the server socket, but never the connected socket",
                        hints.LISTENING_NOT_CONNECTED)
        stopped = facts.trace.stopped_because
        if stopped:  # it may well close later in the code, but never got that far
            return Fail(expected, "the program was stopped before it closed the connection (it was %s)"
                        % ("still running at the time limit" if stopped == STOPPED_TIME_LIMIT else stopped),
                        "First fix what kept it from ending (see %s.exits); then make sure it calls "
                        "close() on the connection." % ctx.role)
        crash = facts.exception
        if crash is not None and not input_after_closing(facts):
            where = " on line %s" % crash.get("lineno") if crash.get("lineno") else ""
            return Fail(expected, "it crashed (%s%s) before it closed the connection"
                        % (crash.get("error"), where),
                        "First fix the error shown under %s.runs; then make sure it calls close() on the "
                        "connection." % ctx.role)
        return Fail(expected, "it never called close() on it; the connection closed only when the "
                              "program ended", hints.NEVER_CLOSED)
    return Fail(expected, "it called close(), but the connection stayed open", hints.CLOSE_KEPT_OPEN)


def _why_still_running(ctx: Context) -> str:
    facts = ctx.facts
    main = [c for kind in ("recv_call", "recv_return", "accept_call", "accept_return")
            for c in facts.all(kind) if c.get("pid") == facts.trace.main_pid]
    main.sort(key=lambda c: c.position)
    empty_reads = [c for c in main if c.get("kind") == "recv_return" and c.ok and c.get("size") == 0]
    if len(empty_reads) > 1:
        return hints.RECV_LOOP_FOREVER
    if main and main[-1].get("kind") == "accept_call" and facts.accepted is not None:
        return hints.LOOPS_FOREVER_ACCEPT
    return hints.LOOPS_FOREVER


def printed_before_call(ctx: Context, expected: str, call_kind: str, call_name: str,
                        unreached: str) -> Outcome:
    """``expected`` printed before the program's first ``call_name`` (probe event ``call_kind``),
    judged only when the counterpart got a connection: a call that reached nobody proves nothing
    (and the probe's log alone is the program's word)."""
    call = ctx.facts.first(call_kind)
    if call is None:
        return Skip("the %s never called %s" % (ctx.role, call_name))
    if not ctx.facts.trace.peer.connected:
        return Skip(unreached)
    return printed(ctx, expected, before=call.position, before_what="the %s call" % call_name)


def printed(ctx: Context, expected: str, after: Optional[int] = None, before: Optional[int] = None,
            after_what: str = "", before_what: str = "") -> Outcome:
    """The line ``expected`` was printed (to stdout or stderr, as a phrase of a line unless
    --strict) after position ``after`` and before ``before``."""
    facts = ctx.facts
    where = " and ".join(w for w in ("after " + after_what if after_what else "",
                                 "before " + before_what if before_what else "") if w)
    wanted = '"%s" printed %s' % (expected, where)
    found = list(matches(expected, facts.lines, ctx.strict))
    inside = [m for m in found if (after is None or m.at > after) and (before is None or m.at < before)]
    if inside:
        return Pass(_match_notes(expected, inside[0]))
    if found:
        if after is not None and found[0].at <= after:
            return Fail(wanted, "it was printed before " + after_what,
                        "Move the print so it comes after %s." % after_what)
        return Fail(wanted, "it was printed after " + before_what,
                    "Move the print so it comes before %s." % before_what)
    if ctx.strict:
        loose = find_line(expected, facts.lines, strict=False)
        if loose is not None:
            return Fail(wanted, 'you printed "%s"' % quoted(loose.line.text),
                        "With --strict the line must be exactly \"%s\"." % expected)
    others = list(ctx.exercise.server_lines.values()) + list(ctx.exercise.client_lines.values())
    near = closest(expected, facts.lines, others + [ctx.exercise.message])
    if near is not None:
        return Fail(wanted, 'not printed; the closest line was "%s"' % quoted(near.text),
                    "Print exactly \"%s\" (copy it from the handout)." % expected)
    shown = "; ".join('"%s"' % quoted(line.text) for line in facts.lines[:3]) or "nothing"
    return Fail(wanted, "not printed (your program printed: %s)" % shown,
                'Add print("%s") at that step.' % expected)


def _match_notes(expected: str, match: LineMatch) -> Tuple[str, ...]:
    """What a student should know about a line that was accepted without being exact."""
    notes = []
    text = quoted(match.line.text.strip())
    if match.glued:
        notes.append('"%s" ran together with other output on one line ("%s"): print(..., end="") and '
                     'sys.stdout.write() add no line break; accepted, but end each line with a newline '
                     '(--strict would not accept it)' % (expected, text))
    elif not match.whole:
        notes.append('your line "%s" contains "%s" with more text around it (accepted; --strict would '
                     'not)' % (text, expected))
    elif not match.exact:
        notes.append(difference_note(expected, text))
    if match.line.stream == STDERR:
        notes.append('"%s" was written to stderr (the error output), e.g. by logging or '
                     'print(..., file=sys.stderr); it shows on the console, so it counts, but '
                     'print() writes to stdout, where the handout\'s lines belong' % expected)
    return tuple(notes)


def prints_received(ctx: Context, step, what: str, problem_of, constant_hint: str) -> Outcome:
    """It printed, as text, what the counterpart sent, in both runs: the second counterpart sends
    something else, so a fixed text fails.  ``problem_of(facts, text)`` is None when a line shows
    ``text``, else (what happened, hint); ``constant_hint`` is formatted with the two texts."""
    message = expected_data(ctx, step, ctx.facts)
    expected = 'a line with the %s it received, "%s", as text' % (what, message)
    problem = problem_of(ctx.facts, message)
    if problem is not None:
        return Fail(expected, problem[0], problem[1])
    if ctx.other_facts is not None:
        other = expected_data(ctx, step, ctx.other_facts)
        problem = problem_of(ctx.other_facts, other)
        if problem is not None:
            constant = any(contains_as_text(line.text, message) for line in ctx.other_facts.lines)
            return Fail('the %s the server sent, whatever it is (here "%s")' % (what, other),
                        'your client did not print "%s" when the server sent that: %s' % (other, problem[0]),
                        constant_hint.format(message=message, other=other) if constant else problem[1])
    shown = [line for line in ctx.facts.lines if contains_as_text(line.text, message)]
    if shown and all(line.stream == STDERR for line in shown):
        return Pass(("you printed the message to stderr (the error output); it shows on the console, "
                     "so it counts, but print() writes to stdout, where it belongs",))
    return Pass()
