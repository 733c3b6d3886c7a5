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


class CheckSpec(NamedTuple):
    id: str
    description: str
    points: float = 1.0
    # Checks that must have passed for this one to be judged; otherwise it is skipped.
    requires: Tuple[str, ...] = ()


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
        CheckSpec("server.runs", "It runs under Python 3 without a syntax error or an uncaught exception"),
        CheckSpec("server.listens", f"It binds a port in {low}-{high} and calls listen() before accept()"),
        CheckSpec("server.waiting_printed", f'It prints "{s["waiting"]}" before calling accept()'),
        CheckSpec("server.accepts", "It accepts the connection of the reference client", 2),
        CheckSpec("server.accepted_printed", f'It prints "{s["accepted"]}" after accept() returned',
                  requires=("server.accepts",)),
        CheckSpec("server.sends_message", f'The reference client receives exactly "{message}"', 2,
                  requires=("server.accepts",)),
        CheckSpec("server.sent_printed", f'It prints "{s["sent"]}" after sending the message',
                  requires=("server.accepts",)),
        CheckSpec("server.closes", "It closes the connected socket itself (close() or a with block)",
                  requires=("server.accepts",)),
        CheckSpec("server.exits", "It ends on its own, with exit status 0, within the time limit"),
    )
    client_checks = (
        CheckSpec("client.runs", "It runs under Python 3 without a syntax error or an uncaught exception"),
        CheckSpec("client.connecting_printed", f'It prints "{c["connecting"]}" before calling connect()'),
        CheckSpec("client.connects", "It connects to the reference server", 2),
        CheckSpec("client.waiting_printed",
                  f'It prints "{c["waiting"]}" after connecting and before the first recv()',
                  requires=("client.connects",)),
        CheckSpec("client.prints_message", "It prints the message it received from the server, as text", 2,
                  requires=("client.connects",)),
        CheckSpec("client.closes", "It closes its socket itself (close() or a with block)",
                  requires=("client.connects",)),
        CheckSpec("client.exits", "It ends on its own, with exit status 0, within the time limit"),
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
