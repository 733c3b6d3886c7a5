"""Grade one student file in one role: ``grade_file(role, path, options) -> Report``.

Thread-safe and independent per call: every grading has its own processes, reference
counterpart and loopback ports.
"""
from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from grader.judging import hosts
from grader.judging.checks import Context, evaluate, load_code_checks
from grader.judging.checks.facts import Facts
from grader.exercises.default import CLIENT, HELLO_WORLD, ROLES, SERVER, Exercise
from grader.running.inputs import read_program
from grader.running.launch import RUNS, StartedProgram
from grader.report.bounds import bounded
from grader.judging.results import Report
from grader.running.peers import Conversation
from grader.running.session import UDP, Trace, datagram_request, run_session
from grader.judging.timeline import build_timeline

TEMPLATES = Path(__file__).resolve().parent.parent / "student_template"
# CPython's ast module shares its conversion state between threads: parsing in parallel
# gradings can raise "SystemError: AST constructor recursion depth mismatch" (gh-106905).
_AST_LOCK = threading.Lock()
# string.ascii_lowercase and co., without importing string (it compiles a regex on import).
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_UPPER = _LOWER.upper()
_DIGITS = "0123456789"


class GradeOptions(NamedTuple):
    timeout: Optional[float] = None  # seconds; None: the exercise's time limit
    strict: bool = False  # console lines must match to the letter
    sandbox: bool = False  # own network, PID and mount namespaces (Linux; grader.running.sandbox)
    stress: bool = False  # also run against less kind counterparts (grader/labday/stress.py); no score


def grade_file(role: str, path, options: GradeOptions = GradeOptions(),
               exercise: Exercise = HELLO_WORLD, started: Sequence[StartedProgram] = ()) -> Report:
    """Run the program at ``path`` as the lab's ``role`` against the reference counterpart.

    ``started``: runs of this program already started by ``launch.start_program`` with the same
    ``options.sandbox``, ``launch.RUNS[role]`` of them (the command line starts them before it
    loads the rest of the grader); the grading adopts and cleans them up.  Without them it
    starts its own.

    Raises ``InputError`` (with a message for the user) when the file cannot be graded at all.
    """
    if role not in ROLES:
        raise ValueError("role must be one of %s, not %r" % (", ".join(ROLES), role))
    runs = list(started) or [None] * RUNS[role]
    try:
        if len(runs) != RUNS[role]:
            raise ValueError("a %s grading takes %d started runs, not %d" % (role, RUNS[role], len(runs)))
        return _grade(role, Path(path), options, exercise, runs)
    finally:
        for run in runs:
            if run is not None:
                run.discard()  # only does something to a run no session adopted


def _grade(role: str, path: Path, options: GradeOptions, exercise: Exercise,
           runs: List[Optional[StartedProgram]]) -> Report:
    began = time.monotonic()
    load_code_checks(exercise)
    source = read_program(path)
    time_limit = options.timeout if options.timeout is not None else exercise.time_limit
    message = exercise.message
    other_message = ""

    def session(message: str, run: Optional[StartedProgram], conversation: Conversation) -> Trace:
        if exercise.transport == UDP:  # datagrams: the reference client sends its request
            return run_session(role, path, exercise, message.encode(), time_limit, options.sandbox, run,
                               transport=UDP, request=datagram_request(exercise))
        return run_session(role, path, exercise, message.encode(), time_limit, options.sandbox, run,
                           conversation)

    if role == SERVER:
        trace = session(message, runs[0], conversation_for(exercise, role))
        other_trace = None
    else:
        # The same client also meets a server that sends another message (echoing: a reply
        # other than the line), so printing a fixed text cannot pass.  Random, so a program
        # cannot know it in advance.
        other_message = other_message_like(message)
        trace, other_trace = _in_parallel(
            lambda: session(message, runs[0], conversation_for(exercise, role)),
            lambda: session(other_message, runs[1], conversation_for(exercise, role, other=True)))
    facts = Facts.of(trace)
    ctx = Context(
        role=role, exercise=exercise, facts=facts, strict=options.strict,
        other_facts=Facts.of(other_trace) if other_trace else None, other_message=other_message,
        shadowed_socket=shadows_socket_module(path),
        # The blank templates make no socket: only a program that made none can be one (and
        # only then does it matter), which spares every other grading the parse.
        is_template=not facts.made_socket and is_blank_template(source, role, exercise),
        source=source, file=str(path),
    )
    checks = evaluate(ctx)
    robustness = ()
    if options.stress:
        from grader.labday.stress import run_stress

        robustness = run_stress(ctx, checks, path, message.encode(), time_limit, options.sandbox,
                                conversation_for(exercise, role))
    return bounded(Report(
        role=role, file=str(path), checks=checks,
        stdout=trace.output.stdout.text, stderr=trace.output.stderr.text,
        duration=round(time.monotonic() - began, 3), exit_status=trace.exit_status,
        stopped_because=trace.stopped_because, requested_address=_requested_address(trace),
        notes=tuple(_notes(trace, exercise)), timeline=build_timeline(trace), exercise=exercise.name,
        robustness=robustness,
    ))  # every quoted text within bounds, in every report made from it (grader/report/bounds.py)


def _in_parallel(first, second) -> Tuple[Trace, Trace]:
    results: Dict[int, Trace] = {}
    errors: List[BaseException] = []

    def run(index, function):
        try:
            results[index] = function()
        except BaseException as exc:  # re-raised below, in the caller's thread
            errors.append(exc)

    helper = threading.Thread(target=run, args=(1, second), daemon=True)
    helper.start()
    run(0, first)
    helper.join()
    if errors:
        raise errors[0]
    return results[0], results[1]


def conversation_for(exercise: Exercise, role: str, other: bool = False) -> Conversation:
    """What the reference counterpart says, mirroring the other role's steps: it sends a line
    first when the graded role receives before sending (a random one in the message's shape, so
    a fixed reply fails), and reads the client's line first when the client sends one; it
    echoes that line when the server's send step is an echo (``other``: the client's second
    run, where the reply is another text of the same shape)."""
    steps = exercise.steps.get(role, ())
    if role == SERVER:
        if any(s.kind == "recv" for s in steps):
            return Conversation(line=(other_message_like(exercise.message) + "\n").encode())
        return Conversation()
    if not any(s.kind == "send" for s in steps):
        return Conversation()
    echoes = any(s.kind == "send" and s.data == "echo" for s in exercise.steps.get(SERVER, ()))
    reply = None
    if echoes:
        reply = _different_reply if other else (lambda line: line)
    return Conversation(receive_first=True, reply=reply)


def _different_reply(line: bytes) -> bytes:
    """A reply of the same shape as ``line`` but other letters (for the client's second run)."""
    text = line.decode("latin-1")
    body = text.rstrip("\r\n")
    return (other_message_like(body) + text[len(body):]).encode("latin-1") if body.strip() else line


def other_message_like(message: str) -> str:
    """A fresh random message of the same shape: each letter replaced by a random letter of the
    same case, each digit by a digit; spaces and punctuation kept ("Hello World!" -> "Qmxzt
    Brovk!").  Same length, same capitals, same punctuation, so whatever a client does to the
    text (recv(12), .strip(), .title(), [:12]) it does alike to every draw: the verdict depends
    only on whether it prints what it received, never on which message was drawn."""
    rng = random.SystemRandom()
    def draw(ch: str) -> str:
        for alphabet in (_LOWER, _UPPER, _DIGITS):
            if ch in alphabet:
                return rng.choice(alphabet)
        return ch
    if not any(ch in _LOWER + _UPPER + _DIGITS for ch in message):
        return "".join(rng.choice(_LOWER) for _ in range(8))
    while True:
        other = "".join(draw(ch) for ch in message)
        if other != message:
            return other


def shadows_socket_module(path: Path) -> bool:
    """A socket.py (or the program itself named so) would be imported instead of Python's."""
    if path.name == "socket.py":
        return True
    try:
        folder = path.resolve().parent
        return (folder / "socket.py").is_file() or (folder / "socket" / "__init__.py").is_file()
    except (OSError, RuntimeError, ValueError):  # a link loop, a name the OS refuses
        return False


# Errors the grader's own parse of a student's source can raise: the source is then simply
# not analysable (a 200 KB "x = ----1" is a MemoryError, 800 KB of "1 + 1 + ..." a RecursionError,
# a NUL byte a SyntaxError or, before Python 3.12, a ValueError).
UNPARSABLE = (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError)


def is_blank_template(source: bytes, role: str, exercise: Exercise = HELLO_WORLD) -> bool:
    """The file is the handed-out template (the exercise's) with at most comments changed.

    Never raises: a source that cannot be analysed is not the template."""
    named = exercise.files.get("template", {}).get(role)
    template = Path(named) if named else TEMPLATES / ("%s.py" % role)
    try:
        template_source = template.read_bytes()
    except OSError:
        return False
    # Only comments may differ, so far more code than the template's cannot be it: that is
    # decided without parsing, which on a big source costs the grader hundreds of MB.
    if _code_bytes(source) > 4 * len(template_source) + 4096:
        return False
    try:
        with _AST_LOCK:
            return _code_shape(source) == _code_shape(template_source)
    except UNPARSABLE:
        return False


def _code_bytes(source: bytes) -> int:
    """Bytes on lines that are not blank or a comment (an upper bound on the code's size)."""
    return sum(len(line) for line in source.splitlines()
               if line.strip() and not line.lstrip().startswith(b"#"))


def _code_shape(source: bytes) -> str:
    import ast  # only here: most gradings never get this far (see _grade)
    import warnings

    with warnings.catch_warnings():  # "invalid escape sequence" and co. are not the grader's to say
        warnings.simplefilter("ignore")
        tree = ast.parse(source)
    body = tree.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]  # the module docstring
    return ast.dump(ast.Module(body=body, type_ignores=[]))


def _requested_address(trace: Trace) -> Optional[str]:
    kind = "bind" if trace.role == SERVER else "connect_call"
    for event in trace.events:
        if event.get("kind") == kind and event.get("pid") == trace.main_pid:
            requested = event.get("requested")
            if isinstance(requested, list) and len(requested) == 2:
                return "(%r, %r)" % tuple(requested)
            return str(requested)
    return None


def _notes(trace: Trace, exercise: Exercise = HELLO_WORLD) -> List[str]:
    notes = list(trace.output.folder_notes)
    for name, stream in (("output", trace.output.stdout), ("error output", trace.output.stderr)):
        if stream.dropped:
            notes.append("your program's %s was cut at %d bytes; %d more bytes were dropped"
                         % (name, len(stream.text.encode()), stream.dropped))
    if trace.output.disk_exceeded:
        notes.append("your program %s, more than a run may; it was stopped" % trace.output.disk_exceeded)
    if trace.output.killed_descendants:
        notes.append("%d process(es) your program started were still running and were stopped"
                     % trace.output.killed_descendants)
    unknown = _unknown_host(trace)
    if unknown:
        notes.append(unknown)
    client_sends = any(s.kind == "send" for s in exercise.steps.get(CLIENT, ()))
    if trace.role == CLIENT and trace.peer.received_total and not client_sends:
        notes.append("your client sent %d bytes to the server; the lab's client only receives"
                     % trace.peer.received_total)
    return notes


def _unknown_host(trace: Trace) -> Optional[str]:
    """A note when the program asked for a host name this computer cannot find (a placeholder
    such as 'ipaddress'): grading reached the reference program anyway; by hand it would fail."""
    kind = "bind" if trace.role == SERVER else "connect_call"
    call = next((e for e in trace.events if e.get("kind") == kind and e.get("pid") == trace.main_pid), None)
    requested = call.get("requested") if call is not None else None
    if not (isinstance(requested, list) and len(requested) == 2 and hosts.is_unknown(requested[0])):
        return None
    if trace.role == SERVER:
        return ('your server binds to "%s", a name this computer cannot find: run by hand, bind() would '
                'fail there (use "" to listen on every address)' % requested[0])
    return ('your client connects to "%s", a name this computer cannot find: grading reached the '
            'reference server anyway, but run by hand connect() would fail there (use "localhost" or '
            "your partner's IP address)" % requested[0])
