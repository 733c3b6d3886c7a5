"""Plain questions about a trace: what was printed where, which socket calls happened, in order.

Positions are indexes into the event log in arrival order, which is one total order even when a
program forks.  Sockets are keyed by (pid, socket id) for the same reason.
"""
from __future__ import annotations

import bisect
import re
from socket import SOCK_DGRAM, SOCK_STREAM
from typing import Dict, List, NamedTuple, Optional, Tuple

from grader.judging.matching import STDERR, STDOUT, Line
from grader.running.session import Trace

SockKey = Tuple[int, int]


def same_address(a, b) -> bool:
    """Two (host, port) endpoints are the same; an IPv4-mapped IPv6 host equals its IPv4 form."""
    def norm(address):
        if not address or len(address) < 2:
            return None
        host = str(address[0])
        return (host[7:] if host.startswith("::ffff:") else host, address[1])
    return norm(a) is not None and norm(a) == norm(b)


class Call(NamedTuple):
    """One probe event with its position in the log."""

    position: int
    event: Dict

    @property
    def sock(self) -> SockKey:
        return (self.event.get("pid"), self.event.get("sock"))

    @property
    def ok(self) -> bool:
        return bool(self.event.get("ok"))

    def get(self, key, default=None):
        return self.event.get(key, default)


class Facts(NamedTuple):
    trace: Trace
    lines: List[Line]  # what the program printed, as lines
    calls: Dict[str, List[Call]]  # probe events by kind

    @classmethod
    def of(cls, trace: Trace) -> "Facts":
        """The trace's calls by kind, and its console lines: stdout and stderr (logging,
        ``print(..., file=sys.stderr)``: what the student sees on the console), each kept only
        where that stream's captured output shows it, in the order of the event log."""
        facts = cls(trace, [], {})
        streams = {STDOUT: _Lines(STDOUT), STDERR: _Lines(STDERR)}
        last_call = -1  # position of the last event that was not output
        for position, event in enumerate(trace.events):
            kind = event.get("kind")
            facts.calls.setdefault(kind, []).append(Call(position, event))
            if kind in streams and isinstance(event.get("text"), str):
                streams[kind].write(event["text"], position, last_call)
            else:
                last_call = position
        captured = {STDOUT: trace.output.stdout.text, STDERR: trace.output.stderr.text}
        for name, stream in streams.items():
            facts.lines.extend(_on_console(_not_traceback(stream.finish()), captured[name]))
        facts.lines.sort(key=lambda line: line.position)
        return facts

    # -- general --------------------------------------------------------------------------------

    def all(self, kind: str) -> List[Call]:
        return self.calls.get(kind, [])

    def first(self, kind: str, **match) -> Optional[Call]:
        for call in self.all(kind):
            if all(call.event.get(k) == v for k, v in match.items()):
                return call
        return None

    @property
    def syntax_error(self) -> Optional[Call]:
        return self.first("syntax_error")

    @property
    def exception(self) -> Optional[Call]:
        main = self.trace.main_pid
        return self.first("exception", pid=main) if main is not None else self.first("exception")

    @property
    def started(self) -> bool:
        return self.first("start") is not None

    @property
    def made_socket(self) -> bool:
        return bool(self.all("socket") or self.all("accept_return") or self.all("connect_call"))

    def lines_between(self, after: Optional[int] = None, before: Optional[int] = None) -> List[Line]:
        return [line for line in self.lines
                if (after is None or line.position > after) and (before is None or line.position < before)]

    def on_socket(self, kind: str, sock: Optional[SockKey]) -> List[Call]:
        return [c for c in self.all(kind) if sock is not None and c.sock == sock]

    # -- server ---------------------------------------------------------------------------------

    @property
    def accepted(self) -> Optional[Call]:
        """The first accept() that returned a connection."""
        return self.first("accept_return", ok=True)

    @property
    def connection(self) -> Optional[SockKey]:
        """The program's connected socket: from accept() (server) or connect() (client)."""
        accepted = self.accepted
        if accepted is not None:
            return (accepted.get("pid"), accepted.get("conn"))
        connected = self.first("connect_return", ok=True)
        return connected.sock if connected is not None else None

    @property
    def connection_open_at_end(self) -> Optional[bool]:
        """Whether the kernel showed the program still holding its connection's socket when the
        session ended (None: cannot tell)."""
        inode = self.trace.peer.program_socket
        if not inode or self.trace.open_at_end is None:
            return None
        return inode in self.trace.open_at_end

    def closed(self, sock: Optional[SockKey]) -> Optional[Call]:
        closes = self.on_socket("close", sock)
        return closes[0] if closes else None

    def sent_on_listening_socket(self) -> bool:
        listening = set(self.listening_sockets())
        return any(c.sock in listening for c in self.all("send"))

    def listening_sockets(self) -> List[SockKey]:
        return [c.sock for c in self.all("listen") if c.ok]


    # -- datagrams (UDP) ------------------------------------------------------------------------

    def datagram_sockets_made(self) -> bool:
        """Whether the program made a UDP socket (its type may carry flags: the low bits say)."""
        return any(isinstance(c.get("type"), int) and c.get("type") & 0xF == SOCK_DGRAM
                   for c in self.all("socket"))

    def stream_sockets_only(self) -> bool:
        """The program made sockets, every one a TCP (SOCK_STREAM) socket: the wrong kind in a
        datagram lab."""
        made = [c.get("type") for c in self.all("socket") if isinstance(c.get("type"), int)]
        return bool(made) and all(t & 0xF == SOCK_STREAM for t in made)

    @property
    def datagram_bind(self) -> Optional[Call]:
        """The program's first bind() of a UDP socket (ok or not)."""
        return next((c for c in self.all("bind") if c.get("type") == SOCK_DGRAM), None)

    def datagram_sends(self, ok: Optional[bool] = True) -> List[Call]:
        """Its sendto()/send() calls on UDP sockets (``ok`` None: failed ones too)."""
        return [c for c in self.all("datagram_send") if ok is None or c.ok == ok]

    @property
    def datagram_socket(self) -> Optional[SockKey]:
        """The UDP socket the program exchanged on: the one it bound (a server), else the one
        its first datagram left from (a client), else the first it received on."""
        bound = self.datagram_bind
        if bound is not None and bound.ok:
            return bound.sock
        for kind in ("datagram_send", "datagram_recv_call"):
            call = self.first(kind)
            if call is not None:
                return call.sock
        return None

    def datagram_received(self, sock: Optional[SockKey] = None) -> List[Call]:
        """The datagrams recvfrom()/recv() returned (on ``sock``, or on any UDP socket)."""
        return [c for c in self.all("datagram_recv_return") if c.ok and (sock is None or c.sock == sock)]

    @property
    def datagram_socket_open_at_end(self) -> Optional[bool]:
        """Whether the kernel showed the program still holding its UDP socket (the one the
        counterpart exchanged with) when the session ended; None: cannot tell."""
        seen = self.trace.datagrams
        if seen is None or not seen.program_socket or self.trace.open_at_end is None:
            return None
        return seen.program_socket in self.trace.open_at_end


class _Lines:
    """One stream's writes cut into lines: text written without a newline joins the next write,
    each write keeping its own position (it counts where it was written)."""

    def __init__(self, stream: str):
        self.stream, self.lines = stream, []  # type: str, List[Line]
        self.text, self.writes, self.glued = "", [], False

    def write(self, text: str, position: int, last_call: int) -> None:
        for piece in text.splitlines(keepends=True):
            if self.writes and last_call > self.writes[-1][1] and self.text.strip():
                self.glued = True  # a socket call came between two parts of one line
            self.writes.append((len(self.text), position))
            self.text += piece
            if piece.endswith(("\n", "\r")):
                self._end(self.text.rstrip("\r\n"))

    def _end(self, text: str) -> None:
        self.lines.append(Line(text, self.writes[0][1], self.stream, tuple(self.writes), self.glued))
        self.text, self.writes, self.glued = "", [], False

    def finish(self) -> List[Line]:
        if self.text:
            self._end(self.text)
        return self.lines


_TRACEBACK = "Traceback (most recent call last):"
_WARNING = re.compile(r"\S.*:\d+: \w*Warning: ")  # warnings.warn's header; its source line follows


def _not_traceback(lines: List[Line]) -> List[Line]:
    """``lines`` without the quoted part of printed tracebacks and warnings (the indented
    ``File ...`` and source lines): ``print("Message sent!", x)`` failing shows that source line
    on stderr, and the program never printed it."""
    kept, inside = [], False
    for line in lines:
        if line.text.startswith(_TRACEBACK) or _WARNING.match(line.text):
            inside = True
        elif inside and line.text[:1] in (" ", "\t"):
            continue
        else:
            inside = False
        kept.append(line)
    return kept


def _console_form(text: str) -> str:
    """``text`` as it reads back from the console: written as UTF-8 (lone surrogates as the
    bytes they stand for), decoded with replacement characters, as the grader captures it."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "replace")


def _on_console(lines: List[Line], captured: str) -> List[Line]:
    """The probe's lines of one stream that really reached that stream's console, in order.

    The probe's log is the program's word; the captured output is not.  A line the log
    claims but the console never showed (a forged event) is left out, so it cannot pass a check.
    Order within the log is still the probe's (the README's policy table says so)."""
    # Split as the log is split into lines: at \r\n, \r and \n only.
    console = captured.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    where: Dict[str, List[int]] = {}
    for index, text in enumerate(console):
        where.setdefault(text, []).append(index)
    kept, at = [], 0
    for line in lines:
        if len(line.text) > len(captured):  # cannot be there (and a flood's line is not copied)
            continue
        positions = where.get(_console_form(line.text), ())
        found = bisect.bisect_left(positions, at)
        if found < len(positions):
            kept.append(line)
            at = positions[found] + 1
    return kept
