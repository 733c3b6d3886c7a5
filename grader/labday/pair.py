"""Pair mode: a student's server against a student's client, both under the probe.

The server starts first; once its listening socket is confirmed by the kernel, the client starts
with that address as its connect target (the virtual lab network: whatever host and port each
program wrote, the client's connect reaches the server).  The run ends when the outcome can no
longer change (both ended; the client ended and the server waits for another client; both wait
in recv() with nothing on its way: a deadlock) or at the time limit; both are stopped then.

A datagram (UDP) lab: the client starts once the server's UDP socket is bound (kernel-checked),
with its datagrams routed there; the server's datagrams to an address one came from (the
client's) go there, any other address reaches the grader's stand-in for "elsewhere" only.
Both waiting in recvfrom() with nothing on its way, or one waiting for a datagram from a
program that ended, ends the run too.  ``grader.labday.pair_udp`` explains such a run.

``explain`` turns the two traces into one timeline, what crossed the connection, and a verdict
in plain words naming the side that broke the conversation.  No score: it is for learning.
"""
from __future__ import annotations

import queue
import socket
import time
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Tuple

from grader.judging.checks.facts import Facts
from grader.exercises.default import CLIENT, SERVER, Exercise
from grader.judging.matching import contains_as_bytes_repr, contains_as_text
from grader.running.peers import Observation
from grader.report.bounds import TEXT_CHARS, TIMELINE_ENTRIES, output, quoted
from grader.running.runner import ProgramRun, RunOutput
from grader.running.session import FILE_SIZE_LIMIT, MEMORY_LIMIT, STARTUP_ALLOWANCE, Trace
from grader.judging.timeline import describe
from grader.running import kernel

STOPPED_TIME_LIMIT = "time limit"
_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1"}
# Where a datagram socket bound at these hosts is reached from an IPv4 client.
_DATAGRAM_LOOPBACK = ("127.0.0.1", "0.0.0.0", "::ffff:127.0.0.1", "::ffff:0.0.0.0", "::")


class _Side:
    """One of the two programs and what it has done so far (its main process only steers)."""

    def __init__(self, role: str, source: Path, inbox: "queue.Queue", sandbox: bool):
        self.role = role
        self.run = ProgramRun(source, on_event=lambda e: inbox.put((role, "event", e)), sandbox=sandbox)
        self.events: List[Dict] = []
        self.main_pid: Optional[int] = None
        self.started_at = 0.0
        self.finished_status: Optional[int] = None
        self.ended = False  # its process is gone
        self.waiting: Optional[Dict] = None  # a blocking accept/recv call not yet returned
        self.in_accept = False  # its last call is an accept(), blocking or not (no one else comes)
        self.stopped_because: Optional[str] = None

    def note(self, event: Dict) -> None:
        self.events.append(event)
        if event.get("pid") != self.main_pid or event.get("kind") in ("stdout", "stderr"):
            return
        kind = event.get("kind")
        blocking = event.get("timeout") is None and event.get("threads", 1) == 1
        self.waiting = event if kind in ("accept_call", "recv_call", "datagram_recv_call") and blocking else None
        self.in_accept = kind == "accept_call"

    def mine(self, kind: str) -> List[Dict]:
        return [e for e in self.events if e.get("kind") == kind and e.get("pid") == self.main_pid]

    def config(self, **more) -> Dict:
        limit = more.pop("time_limit")
        return dict({"role": self.role, "display_path": str(self.run.source.resolve()),
                     "hold": limit + 5.0, "memory": MEMORY_LIMIT, "file_size": FILE_SIZE_LIMIT,
                     "cpu": int(limit) + 1}, **more)


class PairRun(NamedTuple):
    server: Trace
    client: Trace
    listen_address: Optional[Tuple[str, int]]  # where the server listened (UDP: bound), kernel-checked
    ended_because: str
    transport: str = "tcp"
    # UDP: what reached the stand-in for "elsewhere" (datagrams the server addressed to no one
    # that had sent it one), each (data, sender).
    elsewhere: Tuple[Tuple[bytes, Tuple[str, int]], ...] = ()


class _Elsewhere:
    """A loopback UDP socket standing for every address nobody in the pair has: a datagram
    addressed there reaches no real program.  Its port number is held for TCP too (bound, never
    listening), so a TCP connect routed there is refused, as no one accepts in a UDP lab."""

    def __init__(self) -> None:
        self.tcp_guard: Optional[socket.socket] = None
        for attempt in range(8):
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.1", 0))
            guard = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                guard.bind(self.sock.getsockname())
                self.tcp_guard = guard
                break
            except OSError:
                guard.close()
                if attempt == 7:
                    break
                self.sock.close()
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def close(self) -> Tuple[Tuple[bytes, Tuple[str, int]], ...]:
        """What arrived, then closed."""
        arrived = []
        while len(arrived) < 50:
            try:
                data, sender = self.sock.recvfrom(65535)
            except OSError:
                break
            arrived.append((data, sender[:2]))
        self.sock.close()
        if self.tcp_guard is not None:
            self.tcp_guard.close()
        return tuple(arrived)


def run_pair(server_file: Path, client_file: Path, exercise: Exercise, time_limit: float,
             sandbox: bool = False) -> PairRun:
    """Run both programs; both are stopped and cleaned up whatever happens."""
    inbox: "queue.Queue" = queue.Queue()
    server = _Side(SERVER, Path(server_file), inbox, sandbox)
    client = _Side(CLIENT, Path(client_file), inbox, sandbox)
    datagrams = exercise.transport == "udp"
    elsewhere = _Elsewhere() if datagrams else None
    arrived_elsewhere: Tuple = ()
    began = time.monotonic()
    deadline = began + time_limit + STARTUP_ALLOWANCE
    listen_address = None
    ended_because = STOPPED_TIME_LIMIT
    outputs: Dict[str, RunOutput] = {}
    try:
        server.run.start()
        _watch_exit(server, inbox)
        while True:
            reason = _over(server, client) or (_datagrams_over(server, client) if datagrams else None)
            if reason:
                ended_because = reason
                break
            now = time.monotonic()
            if now >= deadline:
                break
            try:
                role, kind, item = inbox.get(timeout=deadline - now)
            except queue.Empty:
                continue
            side = server if role == SERVER else client
            if kind == "exit":
                side.ended = True
                continue
            side.note(item)
            if item.get("kind") == "hello" and side.main_pid is None:
                side.main_pid = item.get("pid")
                deadline = max(deadline if role == CLIENT else 0.0, time.monotonic() + time_limit)
                more = {}
                if datagrams:
                    more = _datagram_config(role, listen_address, elsewhere.port)
                elif role == CLIENT:
                    more = {"connect_host": listen_address[0], "connect_port": listen_address[1]}
                side.run.configure(side.config(time_limit=time_limit, **more))
                side.started_at = time.monotonic()
            elif item.get("kind") == "finished" and item.get("pid") == side.main_pid:
                side.finished_status = item.get("status")
                side.run.release()  # its code ended: the process exits, closing what it left open
            elif (not datagrams and role == SERVER and listen_address is None and item.get("kind") == "listen"
                  and item.get("ok") and item.get("pid") == server.main_pid):
                listen_address = _verified_address(server, item)
                if listen_address is not None:
                    client.run.start()
                    _watch_exit(client, inbox)
            elif (datagrams and role == SERVER and listen_address is None and item.get("kind") == "bind"
                  and item.get("ok") and item.get("type") == socket.SOCK_DGRAM
                  and item.get("pid") == server.main_pid):
                listen_address = _verified_datagram_address(server, item)
                if listen_address is not None:
                    client.run.start()
                    _watch_exit(client, inbox)
    finally:
        # Stopping one program may wake the other (its recv() returns b''), which then acts:
        # what either does after this moment is the grader's doing, not the program's.
        decided_at = time.monotonic()
        for side in (server, client):
            if side.run.process is not None and side.run.alive() and not side.ended:
                side.stopped_because = ended_because
        for side in (server, client):
            if side.run.process is not None:
                side.run.stop()
        for side in (server, client):
            outputs[side.role] = side.run.finish()
        if elsewhere is not None:
            arrived_elsewhere = elsewhere.close()
    _drain(inbox, server, client)
    for side in (server, client):
        side.events = [e for e in side.events if not (isinstance(e.get("t"), (int, float)) and e["t"] > decided_at)]
    duration = time.monotonic() - began
    return PairRun(_trace(server, outputs[SERVER], exercise, time_limit, began, duration),
                   _trace(client, outputs[CLIENT], exercise, time_limit, began, duration),
                   listen_address, ended_because, exercise.transport, arrived_elsewhere)


def _datagram_config(role: str, bound: Optional[Tuple[str, int]], elsewhere: int) -> Dict:
    """The probe's routing in a UDP pair: the client's datagrams go to the server's socket; the
    server's to an address a datagram came from keep it, any other goes elsewhere.  TCP connects
    (a SOCK_STREAM program in a UDP lab) go to elsewhere's port, where no one accepts."""
    more = {"connect_host": "127.0.0.1", "connect_port": elsewhere}
    if role == CLIENT:
        return dict(more, udp_host=bound[0], udp_port=bound[1])
    return dict(more, udp_host="127.0.0.1", udp_port=elsewhere, udp_keep_senders=1)


def _verified_datagram_address(server: _Side, event: Dict) -> Optional[Tuple[str, int]]:
    """Where the client's datagrams reach the server's bound UDP socket: only this machine's
    IPv4 loopback, and only a socket the kernel shows the program holds."""
    address = kernel.endpoint(event.get("address"))
    if address is None or address[0] not in _DATAGRAM_LOOPBACK:
        return None
    inode = server.run.udp_socket_inode(("127.0.0.1", address[1]))
    if inode == 0 or (inode and server.run.holds_socket(inode) is False):
        return None
    return "127.0.0.1", address[1]


def _datagrams_over(server: _Side, client: _Side) -> Optional[str]:
    """UDP: why the run can stop now.  A program waiting in a blocking recvfrom() with every
    datagram sent to that socket already read waits for the other program only: for ever when
    that one ended, or waits in recvfrom() the same way (a deadlock)."""
    if client.run.process is None:  # started once a UDP socket is bound: nothing else wakes a blocked server
        return "the server waits, with no UDP socket bound that a client could reach" if server.waiting else None
    server_stuck, client_stuck = _waits_for_nothing(server, client), _waits_for_nothing(client, server)
    if server_stuck and client_stuck:
        return "deadlock"
    if client_stuck and server.ended:
        return "the server ended; the client waits for a datagram that will not come"
    if server_stuck and client.ended:
        return "the client ended; the server waits for another datagram"
    return None


def _waits_for_nothing(side: _Side, other: _Side) -> bool:
    waiting = side.waiting
    if not waiting or waiting.get("kind") != "datagram_recv_call":
        return False
    local = kernel.endpoint(waiting.get("local"))
    if local is None:
        return False
    if not local[1]:
        return True  # an unbound socket: no datagram can ever be addressed to it
    on_its_way = sum(1 for e in other.events if e.get("kind") == "datagram_send" and e.get("ok")
                     and (kernel.endpoint(e.get("to")) or ("", 0))[1] == local[1])
    read = sum(1 for e in side.mine("datagram_recv_return") if e.get("ok") and e.get("sock") == waiting.get("sock"))
    return read >= on_its_way


def _watch_exit(side: _Side, inbox: "queue.Queue") -> None:
    import threading

    def wait() -> None:
        side.run.process.wait()
        inbox.put((side.role, "exit", None))
    threading.Thread(target=wait, daemon=True).start()


def _verified_address(server: _Side, event: Dict) -> Optional[Tuple[str, int]]:
    address = event.get("address")
    if not (isinstance(address, list) and len(address) == 2 and isinstance(address[1], int)):
        return None
    host = _LOOPBACK.get(address[0], address[0])
    if host not in ("127.0.0.1", "::1") or not server.run.owns_listener(address[1], ipv6=":" in host):
        return None  # only ever this machine's loopback, and only the program's own listener
    return host, address[1]


def _over(server: _Side, client: _Side) -> Optional[str]:
    """Why the run can stop now (the outcome can no longer change), or None."""
    client_started = client.run.process is not None
    if server.ended and (not client_started or client.ended):
        return "both programs ended" if client_started else "the server ended"
    if client.ended and server.in_accept:
        return "the client ended; the server waits for another client"
    if _deadlock(server, client):
        return "deadlock"
    return None


def _bytes_on(side: _Side, kind: str) -> int:
    return sum(int(e.get("size") or 0) for e in side.mine(kind) if e.get("ok"))


def _deadlock(server: _Side, client: _Side) -> bool:
    """Both wait in recv() and everything each sent has been read by the other: no data is on
    its way, so neither recv() can ever return (single-threaded, blocking calls only)."""
    if not (server.waiting and client.waiting and server.waiting.get("kind") == "recv_call"
            and client.waiting.get("kind") == "recv_call"):
        return False
    return (_bytes_on(client, "send") <= _bytes_on(server, "recv_return")
            and _bytes_on(server, "send") <= _bytes_on(client, "recv_return"))


def _drain(inbox: "queue.Queue", server: _Side, client: _Side) -> None:
    while True:
        try:
            role, kind, item = inbox.get_nowait()
        except queue.Empty:
            return
        if kind == "event":
            (server if role == SERVER else client).note(item)


def _trace(side: _Side, output: RunOutput, exercise: Exercise, time_limit: float,
           began: float, duration: float) -> Trace:
    return Trace(role=side.role, message=exercise.message.encode(), events=side.events,
                 peer=Observation(), output=output, finished_status=side.finished_status,
                 exit_status=None if side.stopped_because else output.exit_status,
                 stopped_because=side.stopped_because, started_at=side.started_at or began,
                 duration=duration, time_limit=time_limit, main_pid=side.main_pid)


# -- explaining ---------------------------------------------------------------------------------


class Explanation(NamedTuple):
    timeline: List[Tuple[float, str, str]]  # (seconds, "server"/"client", what)
    crossed: List[str]  # what crossed the connection, a line each
    verdict: List[str]  # the first line names who broke the conversation
    matched: bool  # the client printed, as text, what the server sent (and the exercise agrees)


class _Connection(NamedTuple):
    sock: Optional[int]  # the program's socket for the connection
    sent: bytes
    received: bytes
    sent_total: int
    received_total: int
    closed_at: Optional[float]
    reset: Optional[str]


def _connection(trace: Trace, sock) -> _Connection:
    sent, received, sent_total, received_total = b"", b"", 0, 0
    closed_at, reset = None, None
    for e in trace.events:
        if e.get("pid") != trace.main_pid or sock is None or e.get("sock") != sock:
            continue
        kind = e.get("kind")
        if kind == "send" and e.get("ok"):
            sent += str(e.get("data", "")).encode("latin-1")
            sent_total += int(e.get("size") or 0)
        elif kind == "recv_return" and e.get("ok"):
            received += str(e.get("data", "")).encode("latin-1")
            received_total += int(e.get("size") or 0)
        elif kind in ("send", "recv_return") and not e.get("ok") and reset is None:
            reset = "%s in %s: %s" % (e.get("error"), "send()" if kind == "send" else "recv()", e.get("message"))
        elif (kind == "close" or (kind == "shutdown" and e.get("ok") and e.get("how") in (1, 2))) \
                and closed_at is None:
            closed_at = float(e.get("t", 0.0))
    return _Connection(sock, sent, received, sent_total, received_total, closed_at, reset)


def _first(trace: Trace, kind: str, ok: Optional[bool] = None) -> Optional[Dict]:
    for e in trace.events:
        if e.get("kind") == kind and e.get("pid") == trace.main_pid and (ok is None or bool(e.get("ok")) == ok):
            return e
    return None


def _crash(trace: Trace) -> str:
    for kind in ("syntax_error", "exception"):
        e = _first(trace, kind)
        if e is not None:
            return " (it stopped with %s: %s)" % (e.get("error"), e.get("message"))
    return ""


def explain(run: PairRun, exercise: Exercise) -> Explanation:
    server, client = run.server, run.client
    accepted = _first(server, "accept_return", ok=True)
    connected = _first(client, "connect_return", ok=True)
    s_conn = _connection(server, accepted.get("conn") if accepted else None)
    c_conn = _connection(client, connected.get("sock") if connected else None)
    timeline = _timeline(run)
    crossed = _crossed(server, client, s_conn, c_conn, accepted, connected)
    verdict, matched = _verdict(run, exercise, s_conn, c_conn, accepted, connected)
    return Explanation(timeline, crossed, verdict, matched)


def _timeline(run: PairRun) -> List[Tuple[float, str, str]]:
    start = run.server.started_at
    entries = []
    for trace in (run.server, run.client):
        for e in trace.events:
            t = float(e["t"]) - start if isinstance(e.get("t"), (int, float)) else 0.0
            if e.get("kind") == "stdout":
                text = str(e.get("text", "")).rstrip("\r\n")
                if text:
                    entries.append((t, trace.role, "prints: " + text))
            else:
                text = describe(e)
                if text:
                    entries.append((t, trace.role, text))
        if trace.stopped_because:
            entries.append((trace.duration, trace.role, "stopped by the grader (%s)" % run.ended_because))
    entries.sort(key=lambda entry: entry[0])
    return entries


def _crossed(server, client, s_conn, c_conn, accepted, connected) -> List[str]:
    if not (accepted or connected):
        return ["nothing: no connection was made"]
    lines = ["server -> client: the server sent %d bytes %r; the client received %d bytes %r"
             % (s_conn.sent_total, s_conn.sent, c_conn.received_total, c_conn.received),
             "client -> server: the client sent %d bytes %r; the server received %d bytes %r"
             % (c_conn.sent_total, c_conn.sent, s_conn.received_total, s_conn.received)]
    closes = [(c.closed_at, who) for c, who in ((s_conn, "server"), (c_conn, "client")) if c.closed_at is not None]
    if closes:
        lines.append("closed first: the %s (its close() or shutdown())" % min(closes)[1])
    else:
        lines.append("neither program closed the connection itself (it closed when the programs ended)")
    for conn, who in ((s_conn, "server"), (c_conn, "client")):
        if conn.reset:
            lines.append("the %s saw an error on the connection: %s" % (who, conn.reset))
    return lines


def _verdict(run: PairRun, exercise: Exercise, s_conn: _Connection, c_conn: _Connection,
             accepted, connected) -> Tuple[List[str], bool]:
    server, client = run.server, run.client
    if run.listen_address is None:
        if _first(server, "listen", ok=True):
            return ["the server's listening socket could not be confirmed, so the client was not started"], False
        return ["the server never listened for a connection%s; the client was not started"
                % _crash(server)], False
    if connected is None:
        failed = _first(client, "connect_return", ok=False)
        if failed is not None:
            verdict = ["the client could not connect: %s: %s" % (failed.get("error"), failed.get("message"))]
            if ":" in run.listen_address[0]:
                verdict.append("the server listens on an IPv6 socket (AF_INET6), which a pair run reaches "
                               "on ::1 only, and an IPv4 client (socket.socket()) cannot go there; on the "
                               "lab's computers a server bound to \"::\" also takes IPv4 clients")
            return verdict, False
        return ["the client never connected to the server%s" % _crash(client)], False
    if accepted is None:
        return ["the server listened but never accepted the client's connection%s" % _crash(server)], False
    if run.ended_because == "deadlock":
        first = "the client waited in recv() while the server waited in recv(): both wait for the other (deadlock)"
        if not s_conn.sent_total and not c_conn.sent_total:
            first += "; in this lab the %s sends first" % ("client" if _client_sends(exercise) else "server")
        return [first], False
    if _client_sends(exercise) and not c_conn.sent_total:
        return ["the client never sent its line%s, so the server had nothing to send back" % _crash(client)], False
    if not s_conn.sent_total:
        return ["the server never sent the message%s" % _crash(server)], False
    sent, got = s_conn.sent, c_conn.received
    notes = _exercise_notes(exercise, s_conn, c_conn)
    if not c_conn.received_total:
        return ["the server sent %r; the client never received it%s" % (sent, _crash(client))] + notes, False
    text = got.decode("utf-8", "replace")
    lines = [line.text for line in Facts.of(client).lines]
    shown = text.strip()
    if shown and any(contains_as_text(line, shown) for line in lines):
        if c_conn.received_total < s_conn.sent_total:
            return ["the server sent %r; the client received only %r and printed that: one recv() may "
                    "return part of the message, keep receiving until the server closes" % (sent, got)] + notes, False
        return ["the server sent %r; the client received it and printed %s" % (sent, shown)] + notes, not notes
    if any(contains_as_bytes_repr(line, shown) for line in lines):
        return ["the server sent %r; the client printed %r because it did not decode (use .decode())"
                % (sent, got)] + notes, False
    printed = "; it printed: %s" % " / ".join(lines[:3]) if lines else "; it printed nothing"
    return ["the server sent %r; the client received %r but did not print it%s%s"
            % (sent, got, printed, _crash(client))] + notes, False


def _client_sends(exercise: Exercise) -> bool:
    return any(s.kind == "send" for s in exercise.steps.get(CLIENT, ()))


def _exercise_notes(exercise: Exercise, s_conn: _Connection, c_conn: _Connection) -> List[str]:
    """Where the conversation worked but is not the exercise's (a failure too)."""
    sends = [s.data for s in exercise.steps.get(SERVER, ()) if s.kind == "send"]
    if "echo" in sends and s_conn.sent != s_conn.received:
        return ["but this lab's server sends back the line it received (%r), not %r"
                % (s_conn.received, s_conn.sent)]
    if "message" in sends and s_conn.sent.decode("utf-8", "replace").strip() != exercise.message:
        return ["but this lab's message is %r" % exercise.message.encode()]
    return []


def render(run: PairRun, explanation: Explanation, exercise: Exercise, server_file, client_file) -> str:
    """The text report; every quoted text within the reports' bounds (grader/report/bounds.py)."""
    out = ["Pair: %s (server) with %s (client), %s" % (server_file, client_file, exercise.name), "",
           "Timeline (seconds since the server started):"]
    for t, who, what in explanation.timeline[:TIMELINE_ENTRIES]:
        out.append("  %7.3f  %-6s | %s" % (t, who, quoted(what)))
    if len(explanation.timeline) > TIMELINE_ENTRIES:
        out.append("  (%d more entries not shown)" % (len(explanation.timeline) - TIMELINE_ENTRIES))
    if not explanation.timeline:
        out.append("  (nothing happened)")
    out += ["", "What crossed the connection:" if run.transport != "udp" else "The datagrams that crossed:"] + ["  " + quoted(line, TEXT_CHARS) for line in explanation.crossed]
    out += ["", "Verdict:"] + ["  " + quoted(line, TEXT_CHARS) for line in explanation.verdict]
    if explanation.matched:
        out.append("  The conversation matches the exercise.")
    for trace in (run.server, run.client):
        if trace.output.stderr.text.strip():
            out += ["", "The %s's error output:" % trace.role]
            out += ["  " + line for line in output(trace.output.stderr.text).rstrip().splitlines()[-15:]]
    out.append("(Pair mode gives no score: grading uses the reference programs.)")
    return "\n".join(out) + "\n"

