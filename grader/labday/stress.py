"""``--stress``: the program against counterparts that behave legally but less kindly.

Each condition is one more session against a reference counterpart with a ``peers.Manner``
(the message in one-byte pieces, a slow connect or accept, the client closing its side first,
IPv6 loopback), with the same time limit and cleanup as a normal run, all in parallel threads.
A datagram (UDP) lab has its own conditions (``datagram_conditions``, each with a
``peers_udp.DatagramManner``).  A program survives a condition when every check it passed in
the normal grading still passes; the result is a separate "Robustness" section that does not
change the score.
"""
from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

from grader.judging.checks import Context, evaluate
from grader.judging.checks.facts import Facts
from grader.exercises.default import CLIENT
from grader.running.peers import Conversation, Manner
from grader.running.peers_udp import DatagramManner
from grader.report.bounds import TEXT_CHARS, quoted
from grader.judging.results import CheckResult, RobustnessResult
from grader.running.session import UDP, datagram_request, run_session

SURVIVED, FAILED, NOT_APPLICABLE = "survived", "failed", "not applicable"
MISSED = "missed"  # an extra-mile condition not survived: said, but not counted as a failure
PIECE_DELAY = 0.05  # seconds between two one-byte pieces
SLOW = 1.0  # seconds a slow counterpart waits before connecting or accepting


class Condition(NamedTuple):
    name: str
    description: str
    manner: object  # a peers.Manner (TCP) or a peers_udp.DatagramManner (UDP)
    lesson: str  # the TCP lesson a failure teaches
    extra_mile: bool = False  # beyond the handout: not surviving it is "missed", not "failed"


def conditions(role: str, conversation: Conversation) -> List[Tuple[Condition, Optional[str]]]:
    """The conditions for ``role``, each with why it does not apply (None: it does)."""
    pieces = Manner(chunk_size=1, chunk_delay=PIECE_DELAY)
    if role == CLIENT:
        return [
            (Condition("pieces", "the reference server sends its reply one byte at a time, %g s apart"
                       % PIECE_DELAY, pieces,
                       "recv() may return part of the message: keep receiving until the server "
                       "closes the connection (recv() returns b'')"), None),
            (Condition("slow_accept", "the reference server accepts the connection %g s after it "
                       "arrives" % SLOW, Manner(accept_delay=SLOW),
                       "connect() returns once the connection is queued, before the server "
                       "accepts it: the reply may take a while, so wait for it in recv() without "
                       "a short timeout"), None),
            (Condition("close_first", "", Manner(), ""),
             "the reference server closes first in every grading already"),
            (Condition("ipv6", "the reference server listens on the IPv6 loopback (::1) only",
                       Manner(family=socket.AF_INET6),
                       "a server may listen on IPv6 only, and socket.socket() speaks IPv4 only: "
                       "socket.create_connection((host, port)) tries every address of the name "
                       "(\"localhost\" is ::1 too on many computers), or use AF_INET6 for \"::1\" "
                       "(extra mile: the handout's client does not reach it either)",
                       extra_mile=True), None if ipv6_loopback() else "this computer has no IPv6 loopback"),
        ]
    line_pieces = None if conversation.line else "in this lab the client sends nothing"
    return [
        (Condition("pieces", "the reference client sends its line one byte at a time, %g s apart"
                   % PIECE_DELAY, pieces,
                   "recv() may return part of the line: keep receiving until the newline (or "
                   "until the client closes its side)"), line_pieces),
        (Condition("slow_connect", "the reference client connects %g s after your server "
                   "listens" % SLOW, Manner(connect_delay=SLOW),
                   "accept() waits as long as it takes: no short timeout, no give-up before a "
                   "client comes"), None),
        (Condition("close_first", "the reference client shuts down its sending side right after "
                   "connecting%s, and still reads" % (" and sending its line" if conversation.line else ""),
                   Manner(close_first=True),
                   "recv() returning b'' means the client will send nothing more, not that it "
                   "is gone: still send the reply, then close"), None),
        (Condition("ipv6", "", Manner(), ""),
         "the grader reaches a server on the address family it chose; the handout's AF_INET "
         "server is not reachable over IPv6 by design, so this is not asked of it"),
    ]


def datagram_conditions(role: str) -> List[Tuple[Condition, Optional[str]]]:
    """A datagram lab's conditions for ``role``, each with why it does not apply (None: it does).

    Late datagrams are plain UDP (a busy peer, a slow network); a reply from another port is
    legal too (servers answering from a new socket, as TFTP does, or from another address of a
    computer with several), but beyond the handout: extra mile.  Not asked: duplicates (the
    handout's programs do one exchange, so a second copy changes nothing they do) and IPv6 (the
    grader carries a lab program's datagrams over IPv4 whatever host it names)."""
    if role == CLIENT:
        return [
            (Condition("late_reply", "the reference server replies %g s after your request arrives" % SLOW,
                       DatagramManner(reply_delay=SLOW),
                       "a reply may take a while (a busy server, a slow network): wait for it in "
                       "recvfrom() without a short timeout"), None),
            (Condition("other_port", "the reference server replies from another port than the one "
                       "your request went to", DatagramManner(reply_from_other_port=True),
                       "a connected UDP socket (connect()) only takes datagrams from the address it "
                       "connected to, and a server may reply from another port or address: "
                       "sendto() + recvfrom() takes the reply wherever it comes from (extra mile: "
                       "the handout's server replies from its own port)", extra_mile=True), None),
        ]
    return [
        (Condition("late_request", "the reference client sends its request %g s after your socket "
                   "is bound" % SLOW, DatagramManner(request_delay=SLOW),
                   "a UDP server waits for datagrams as long as it takes: recvfrom() without a "
                   "short timeout, no give-up before a request comes"), None),
    ]


def ipv6_loopback() -> bool:
    """Whether this computer can listen on ::1 (IPv6 may be disabled)."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


def run_stress(ctx: Context, baseline: Tuple[CheckResult, ...], path: Path, message: bytes,
               time_limit: float, sandbox: bool, conversation: Conversation) -> Tuple[RobustnessResult, ...]:
    """Run every applicable condition (in parallel) and judge it against ``baseline``, the
    checks of the normal grading in ``ctx``."""
    datagrams = ctx.exercise.transport == UDP
    planned = datagram_conditions(ctx.role) if datagrams else conditions(ctx.role, conversation)
    results: Dict[str, RobustnessResult] = {}

    def one(condition: Condition) -> RobustnessResult:
        if datagrams:
            trace = run_session(ctx.role, path, ctx.exercise, message, time_limit, sandbox,
                                transport=UDP, request=datagram_request(ctx.exercise),
                                manner=condition.manner)
        else:
            trace = run_session(ctx.role, path, ctx.exercise, message, time_limit, sandbox,
                                conversation=conversation, manner=condition.manner)
        checks = evaluate(ctx._replace(facts=Facts.of(trace)))
        return judge(condition, baseline, checks)

    runs = _in_threads({c.name: (lambda c=c: one(c)) for c, why in planned if why is None})
    for condition, why in planned:
        results[condition.name] = runs.get(condition.name) or RobustnessResult(
            condition=condition.name, description=condition.description, status=NOT_APPLICABLE,
            reason=why)
    return tuple(results[c.name] for c, _ in planned)


def judge(condition: Condition, baseline: Tuple[CheckResult, ...],
          checks: Tuple[CheckResult, ...]) -> RobustnessResult:
    """Survived: every check that passed normally still passes under the condition."""
    passed_before = {c.id for c in baseline if c.passed}
    broke = tuple(c for c in checks if c.id in passed_before and not c.passed)
    if not broke:
        return RobustnessResult(condition.name, condition.description, SURVIVED)
    return RobustnessResult(condition.name, condition.description,
                            MISSED if condition.extra_mile else FAILED, lesson=condition.lesson,
                            failed_checks=tuple(c.id for c in broke),
                            reason=quoted("; ".join("%s: %s" % (c.id, c.actual) for c in broke if c.actual),
                                          TEXT_CHARS) or None)


def _in_threads(jobs: Dict[str, Callable[[], RobustnessResult]]) -> Dict[str, RobustnessResult]:
    results: Dict[str, RobustnessResult] = {}
    errors: List[BaseException] = []

    def run(name: str, job) -> None:
        try:
            results[name] = job()
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=item, daemon=True) for item in jobs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results

