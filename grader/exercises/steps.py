"""An exercise as data: per role, the ordered steps of the handout, and the checks they make.

Each step is one thing the program does (a socket call, a console line, a message sent or
received).  The checks follow from the steps (``specs_from_steps``): a step with a ``check`` id
becomes one check whose description, evidence and prerequisites come from its kind and its
neighbours, unless the exercise file overrides them.  ``runs`` and ``exits`` are added first and
last.  The judges of the kinds live in ``grader/judging/checks/``.
"""
from __future__ import annotations

from typing import Dict, NamedTuple, Optional, Tuple

SERVER = "server"
CLIENT = "client"
ROLES = (SERVER, CLIENT)
COUNTERPART_NAME = {SERVER: "reference client", CLIENT: "reference server"}

# What a check's verdict rests on (the README's policy table lists them per check):
COUNTERPART = "counterpart"  # what the grader's reference program saw on the connection
KERNEL = "kernel"  # the operating system: sockets and descriptors in /proc, the real exit status
CONSOLE = "console"  # the program's real standard output, as the grader captured it
PROBE = "probe"  # the probe's log inside the program's own process: the program's word

# TCP step kinds.  A print is judged against its neighbours: "before" the next step when that
# step waits (WAITING), "after" the previous one when it completes something (COMPLETING).
TCP_KINDS = ("listen", "accept", "connect", "send", "recv", "print", "print_received", "close", "code")
# Datagram (UDP) step kinds: no connection; "reply" judges where the sendto before it went.
DATAGRAM_KINDS = ("bind", "recvfrom", "sendto", "reply", "print", "print_received", "close", "code")
KINDS = {"tcp": TCP_KINDS, "udp": DATAGRAM_KINDS}
AUTOMATIC_KINDS = ("runs", "exits")
WAITING = ("accept", "connect", "recv", "recvfrom")
COMPLETING = ("accept", "connect", "send", "recv", "recvfrom", "sendto")
# A step that starts the exchange: a print before it, with nothing completed yet, is judged
# "before" it (a UDP client's "Sending request..." before its first sendto()).
STARTING = ("sendto",)
# Steps a print is not judged against: they say something about the socket step before them.
_NOT_SOCKET_STEPS = ("print", "print_received", "code", "reply")
CONNECTING = {SERVER: "accept", CLIENT: "connect"}
# The step every later one needs, per transport: without it there is nothing to judge.
CONNECTING_BY_TRANSPORT = {"tcp": CONNECTING, "udp": {SERVER: "recvfrom", CLIENT: "sendto"}}
# What a send step sends: the exercise's message, back what was received, or a line the
# program chooses.
SEND_DATA = ("message", "echo", "line")


class CheckSpec(NamedTuple):
    id: str
    description: str
    points: float = 1.0
    # Checks that must have passed for this one to be judged; otherwise it is skipped.
    requires: Tuple[str, ...] = ()
    # What the verdict rests on.  A check that rests on the probe at all scores zero when the
    # program is caught interfering with the probe.
    evidence: Tuple[str, ...] = (PROBE,)


class Step(NamedTuple):
    kind: str
    check: Optional[str] = None  # the id of the check this step makes; None: none
    points: float = 1.0
    text: str = ""  # print: the console line
    data: str = ""  # send: one of SEND_DATA; print_received: what was received
    description: Optional[str] = None
    hint: Optional[str] = None  # replaces the hint of a failure of this step's check
    requires: Optional[Tuple[str, ...]] = None  # None: derived
    evidence: Optional[Tuple[str, ...]] = None  # None: from the kind


class Exercise(NamedTuple):
    name: str  # the title every report shows, e.g. "TCP Hello World"
    message: str
    # Console lines in the order the handout asks for them, keyed by their check's name.
    server_lines: Dict[str, str]
    client_lines: Dict[str, str]
    port_range: Tuple[int, int]
    time_limit: float  # seconds a student program may run
    # After the program has finished (or can no longer progress) the reference counterpart gets
    # this long to see what is already on its way over loopback before the program is stopped.
    peer_grace: float
    checks: Dict[str, Tuple[CheckSpec, ...]]
    steps: Dict[str, Tuple[Step, ...]] = {}
    id: str = ""  # what --exercise takes
    transport: str = "tcp"
    # Files named by the exercise (absolute): "reference"/"template" per role, "fixtures" folder.
    files: Dict[str, Dict[str, str]] = {}
    folder: str = ""  # the folder of its exercise.json
    # Datagram labs: what the reference client sends a server ("": the session's default).
    request: str = ""

    def specs(self, role: str) -> Tuple[CheckSpec, ...]:
        return self.checks[role]

    def step(self, check_id: str) -> Optional[Tuple[int, Step]]:
        """The step (its index in its role's steps, and itself) whose check is ``check_id``."""
        for role_steps in self.steps.values():
            for index, step in enumerate(role_steps):
                if step.check == check_id:
                    return index, step
        return None


# -- deriving checks from steps -----------------------------------------------------------------

_PAST = {"accept": "accept() returned", "connect": "connecting", "recv": "receiving",
         "recvfrom": "recvfrom() returned the request"}
_SENT = {"message": "the message", "echo": "the line back", "line": "the line"}


def after_what(step: Step) -> str:
    """How a print after ``step`` names it, in "after ...": "accept() returned"."""
    if step.kind == "send":
        return "sending " + _SENT.get(step.data, "the message")
    if step.kind == "sendto":
        return "sending the message" if step.data == "message" else "sending the request"
    return _PAST[step.kind]


def neighbours(steps: Tuple[Step, ...], index: int) -> Tuple[Optional[Step], Optional[Step]]:
    """The socket steps a print at ``index`` is judged against: (after, before), each or None."""
    previous = next((s for s in reversed(steps[:index]) if s.kind not in _NOT_SOCKET_STEPS), None)
    following = next((s for s in steps[index + 1:] if s.kind not in _NOT_SOCKET_STEPS), None)
    after = previous if previous is not None and previous.kind in COMPLETING else None
    before = following if following is not None and (
        following.kind in WAITING or (following.kind in STARTING and after is None)) else None
    return after, before


def print_description(steps: Tuple[Step, ...], index: int) -> str:
    after, before = neighbours(steps, index)
    where = []
    if after is not None:
        where.append("after " + after_what(after))
    if before is not None:
        where.append(("before the first %s()" if after is not None else "before calling %s()") % before.kind)
    return 'It prints "%s"%s' % (steps[index].text, " " + " and ".join(where) if where else "")


def default_description(role: str, steps: Tuple[Step, ...], index: int, message: str,
                        port_range: Tuple[int, int]) -> str:
    step = steps[index]
    other = COUNTERPART_NAME[role]
    kind = step.kind
    if kind == "print":
        return print_description(steps, index)
    if kind in _DATAGRAM_DESCRIPTIONS:
        return _datagram_description(role, step, message, port_range)
    if kind == "send":
        if step.data == "message":
            return 'The %s receives exactly "%s"' % (other, message)
        if step.data == "echo":
            return "The %s gets back exactly the line it sent" % other
        return "The %s receives the line the %s sends" % (other, role)
    if kind == "print_received":
        what = "reply" if step.data == "echo" else "message"
        return "It prints the %s it received from the %s, as text" % (what, other.split()[-1])
    fixed = {
        "runs": "It runs under Python 3 without a syntax error or an uncaught exception",
        "exits": "It ends on its own, with exit status 0, within the time limit",
        "listen": "It binds a port in %d-%d and calls listen() before accept()" % port_range,
        "accept": "It accepts the connection of the reference client",
        "connect": "It connects to the reference server",
        "recv": "It receives what the %s sent" % other,
        "close": "It closes the connected socket itself (close() or a with block)" if role == SERVER
        else "It closes its socket itself (close() or a with block)",
        "code": "A check of the exercise's own",
    }
    return fixed[kind]


_DATAGRAM_DESCRIPTIONS = ("bind", "recvfrom", "sendto", "reply")


def _datagram_description(role: str, step: Step, message: str, port_range: Tuple[int, int]) -> str:
    other = COUNTERPART_NAME[role]
    if step.kind == "bind":
        return "It binds a UDP socket (SOCK_DGRAM) to a port in %d-%d" % port_range
    if step.kind == "recvfrom":
        return "It receives the request datagram of the %s" % other
    if step.kind == "reply":
        return "Its reply goes to the address the request came from"
    if step.data == "message":
        return 'The first datagram it sends is exactly "%s"' % message
    return "The %s receives a datagram from the %s" % (other, role)


_EVIDENCE = {
    "runs": (PROBE, KERNEL),
    "listen": (PROBE, KERNEL, COUNTERPART),
    "print": (PROBE, CONSOLE),
    "accept": (PROBE, KERNEL, COUNTERPART),
    "connect": (PROBE, COUNTERPART),
    "send": (COUNTERPART,),
    "recv": (PROBE, COUNTERPART),
    "print_received": (PROBE, CONSOLE, COUNTERPART),
    "close": (PROBE, KERNEL, COUNTERPART),
    "exits": (KERNEL,),
    "code": (PROBE,),
    # Datagram kinds: what the reference counterpart received, and the kernel's word that the
    # socket is the program's; the probe says where in the program it happened.
    "bind": (PROBE, KERNEL, COUNTERPART),
    "recvfrom": (PROBE, KERNEL, COUNTERPART),
    "sendto": (COUNTERPART, KERNEL),
    "reply": (COUNTERPART,),
}
# The evidence of a kind that means another thing over datagrams.
_DATAGRAM_EVIDENCE = {
    "print_received": (CONSOLE, COUNTERPART),
    "close": (PROBE, KERNEL),
}


def with_automatic_steps(role: str, steps: Tuple[Step, ...]) -> Tuple[Step, ...]:
    """``runs`` first and ``exits`` last, unless the exercise names them itself."""
    kinds = {s.kind for s in steps}
    head = () if "runs" in kinds else (Step("runs", role + ".runs"),)
    tail = () if "exits" in kinds else (Step("exits", role + ".exits"),)
    return head + tuple(steps) + tail


def specs_from_steps(role: str, steps: Tuple[Step, ...], message: str,
                     port_range: Tuple[int, int], transport: str = "tcp") -> Tuple[CheckSpec, ...]:
    """One check per step that names one, in the steps' order.  Steps after the connection step
    (accept or connect; over datagrams, the server's recvfrom and the client's sendto) require
    its check, as nothing after it can happen without it."""
    specs = []
    connection: Optional[str] = None
    connecting = CONNECTING_BY_TRANSPORT[transport][role]
    evidence = dict(_EVIDENCE, **(_DATAGRAM_EVIDENCE if transport == "udp" else {}))
    for index, step in enumerate(steps):
        if step.check is not None:
            requires = step.requires
            if requires is None:
                requires = (connection,) if connection and step.kind != "exits" else ()
            description = step.description or default_description(role, steps, index, message, port_range)
            if transport == "udp" and step.kind == "close" and not step.description:
                description = "It closes its socket itself (close() or a with block)"
            specs.append(CheckSpec(
                step.check, description,
                step.points, tuple(requires), step.evidence or evidence[step.kind]))
        if step.kind == connecting and step.check is not None and connection is None:
            connection = step.check
    return tuple(specs)
