"""The lab as data: the console lines, the message, the points and the time limits.

An instructor adapting the lab (another message, other wording, other points) edits this file
only; the engine reads everything from an ``Exercise``.  Check ids are stable: gradebooks and
scripts rely on them, so change descriptions and points freely but keep the ids.
"""
from __future__ import annotations

from typing import Dict, NamedTuple, Tuple

SERVER = "server"
CLIENT = "client"
ROLES = (SERVER, CLIENT)


# What a check's verdict rests on (the README's policy table lists them per check):
COUNTERPART = "counterpart"  # what the grader's reference program saw on the connection
KERNEL = "kernel"  # the operating system: sockets and descriptors in /proc, the real exit status
CONSOLE = "console"  # the program's real standard output, as the grader captured it
PROBE = "probe"  # the probe's log inside the program's own process: the program's word


class CheckSpec(NamedTuple):
    id: str
    description: str
    points: float = 1.0
    # Checks that must have passed for this one to be judged; otherwise it is skipped.
    requires: Tuple[str, ...] = ()
    # What the verdict rests on.  A check that rests on the probe at all scores zero when the
    # program is caught interfering with the probe.
    evidence: Tuple[str, ...] = (PROBE,)


class Exercise(NamedTuple):
    name: str
    message: str
    # Console lines in the order the handout asks for them, keyed by their role in the steps.
    server_lines: Dict[str, str]
    client_lines: Dict[str, str]
    port_range: Tuple[int, int]
    time_limit: float  # seconds a student program may run
    # After the program has finished (or can no longer progress) the reference counterpart gets
    # this long to see what is already on its way over loopback before the program is stopped.
    peer_grace: float
    checks: Dict[str, Tuple[CheckSpec, ...]]

    def specs(self, role: str) -> Tuple[CheckSpec, ...]:
        return self.checks[role]


def _hello_world() -> Exercise:
    s = {
        "waiting": "Waiting for connection...",
        "accepted": "Connection request accepted!",
        "sent": "Message sent!",
    }
    c = {
        "connecting": "Connecting to server...",
        "waiting": "Waiting for reply...",
    }
    low, high = 1024, 65535
    message = "Hello World!"
    server_checks = (
        CheckSpec("server.runs", "It runs under Python 3 without a syntax error or an uncaught exception",
                  evidence=(PROBE, KERNEL)),
        CheckSpec("server.listens", f"It binds a port in {low}-{high} and calls listen() before accept()",
                  evidence=(PROBE, KERNEL, COUNTERPART)),
        CheckSpec("server.waiting_printed", f'It prints "{s["waiting"]}" before calling accept()',
                  evidence=(PROBE, CONSOLE)),
        CheckSpec("server.accepts", "It accepts the connection of the reference client", 2,
                  evidence=(PROBE, KERNEL, COUNTERPART)),
        CheckSpec("server.accepted_printed", f'It prints "{s["accepted"]}" after accept() returned',
                  requires=("server.accepts",), evidence=(PROBE, CONSOLE)),
        CheckSpec("server.sends_message", f'The reference client receives exactly "{message}"', 2,
                  requires=("server.accepts",), evidence=(COUNTERPART,)),
        CheckSpec("server.sent_printed", f'It prints "{s["sent"]}" after sending the message',
                  requires=("server.accepts",), evidence=(PROBE, CONSOLE)),
        CheckSpec("server.closes", "It closes the connected socket itself (close() or a with block)",
                  requires=("server.accepts",), evidence=(PROBE, KERNEL, COUNTERPART)),
        CheckSpec("server.exits", "It ends on its own, with exit status 0, within the time limit",
                  evidence=(KERNEL,)),
    )
    client_checks = (
        CheckSpec("client.runs", "It runs under Python 3 without a syntax error or an uncaught exception",
                  evidence=(PROBE, KERNEL)),
        CheckSpec("client.connecting_printed", f'It prints "{c["connecting"]}" before calling connect()',
                  evidence=(PROBE, CONSOLE)),
        CheckSpec("client.connects", "It connects to the reference server", 2,
                  evidence=(PROBE, COUNTERPART)),
        CheckSpec("client.waiting_printed",
                  f'It prints "{c["waiting"]}" after connecting and before the first recv()',
                  requires=("client.connects",), evidence=(PROBE, CONSOLE)),
        CheckSpec("client.prints_message", "It prints the message it received from the server, as text", 2,
                  requires=("client.connects",), evidence=(PROBE, CONSOLE, COUNTERPART)),
        CheckSpec("client.closes", "It closes its socket itself (close() or a with block)",
                  requires=("client.connects",), evidence=(PROBE, KERNEL, COUNTERPART)),
        CheckSpec("client.exits", "It ends on its own, with exit status 0, within the time limit",
                  evidence=(KERNEL,)),
    )
    return Exercise(
        name="TCP Hello World",
        message=message,
        server_lines=s,
        client_lines=c,
        port_range=(low, high),
        time_limit=5.0,
        peer_grace=1.0,
        checks={SERVER: server_checks, CLIENT: client_checks},
    )


HELLO_WORLD = _hello_world()
