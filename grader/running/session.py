"""One grading session: the student's program, the reference counterpart, and when to stop.

The session ends as soon as the outcome can no longer change:

* the program *finished* (its code ran to the end; the probe now holds the process with its
  sockets open) and the counterpart has seen the connection end, or had ``peer_grace`` to see
  what was already on its way;
* the program *stalled*: a blocking call that nothing can ever satisfy, such as a second
  ``accept()`` after the only reference client was served, or ``recv()`` while the reference
  client (which never sends) waits for the message;

A server waiting in ``recv()`` after the reference client received data is not stalled: the
client then closes its side, as the handout's client does after its one recv(), and the server
is judged on what it does next (README policy 7).  Only one with nothing received is stuck.
* the program's process ended by itself;
* the time limit passed.

Then the session is ended in an order that keeps the grader's own actions out of the verdict
(see ``_Session._stop``): "the program closed the connection" is only ever decided while the
program is provably alive and acting on its own.
"""
from __future__ import annotations

import queue
import socket
import threading
import time
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Tuple

from grader.running import kernel
from grader.exercises.default import CLIENT, SERVER, Exercise
from grader.running.launch import StartedProgram
from grader.running.peers import Conversation, Manner, Observation, ReferenceClient, ReferenceServer
# grader.running.peers_udp is imported by datagram sessions only: a TCP grading never loads it.
from grader.running.runner import ProgramRun, RunOutput

# Limits applied to the student's process by the probe before their code runs (POSIX).
MEMORY_LIMIT = 512 * 1024 * 1024
FILE_SIZE_LIMIT = 16 * 1024 * 1024

STOPPED_TIME_LIMIT = "time limit"
STARTUP_ALLOWANCE = 10.0  # seconds the interpreter may take to start, on top of the limit
STALLED_ACCEPT = "waiting in accept() for another client"
STALLED_RECV = "waiting in recv() for the client to send something"
STALLED_RECVFROM = "waiting in recvfrom() for a datagram that nothing will send"
STALLED_ACCEPT_UDP = "waiting in accept() for a connection, in a lab with no connections"
TCP, UDP = "tcp", "udp"
# What the reference UDP client sends a server when the exercise names no request of its own.
DEFAULT_REQUEST = b"Hello, server!"
STALLED_RECV_FIRST = "waiting in recv() for a reply before sending anything"


def datagram_request(exercise: Exercise) -> bytes:
    """What the reference UDP client sends a server in ``exercise``."""
    return (exercise.request or "").encode() or DEFAULT_REQUEST


class Trace(NamedTuple):
    """Everything a session observed; the checks are functions of this."""

    role: str
    message: bytes  # what the counterpart expected (server) or sent (client)
    events: List[Dict]  # probe events, in the order the program produced them
    peer: Observation
    output: RunOutput
    finished_status: Optional[int]  # the status the program's code ended with, if it ended
    exit_status: Optional[int]  # the process's exit status; None when the grader stopped it
    stopped_because: Optional[str]  # why the grader stopped it, when it did
    started_at: float  # when the program was let go (its code starts), or else started
    duration: float
    time_limit: float
    main_pid: Optional[int]
    # Server: whether the OS confirmed a listening socket of the program where its listen event
    # said (None: no listen event).  The probe's log alone is the program's word, not proof.
    listen_verified: Optional[bool] = None
    # For each accept_return event that said ok (by position in ``events``): the inode of the
    # program's socket as the kernel showed it when the event arrived, 0 when no process held
    # that connection (still in the listener's queue, or closed already), None when the kernel
    # cannot be asked.
    connection_inodes: Dict[int, Optional[int]] = {}
    # The sockets the program's processes held open when the session ended, before the grader
    # stopped anything (None: cannot tell).
    open_at_end: Optional[frozenset] = None
    # Signs that code other than the probe wrote into its channel or called its internals.
    interference: Tuple[str, ...] = ()
    transport: str = TCP  # "udp": a datagram session (``peer`` is then an empty Observation)
    # A datagram session's counterpart's view: what it sent and received (grader.running.peers_udp).
    datagrams: Optional[DatagramObservation] = None


def run_session(role: str, source: Path, exercise: Exercise, message: bytes,
                time_limit: float, sandbox: bool = False,
                started: Optional[StartedProgram] = None,
                conversation: Conversation = Conversation(), transport: str = TCP,
                request: bytes = DEFAULT_REQUEST, manner: Manner = Manner()) -> Trace:
    """``sandbox``: run the program in its own namespaces (``grader.running.sandbox``; check
    ``grader.running.sandbox.available()`` first).  ``started``: the program, already started by
    ``launch.start_program`` (with the same ``sandbox``); the session adopts it.
    ``conversation``: what the counterpart says besides ``message`` (peers.Conversation).
    ``transport``: "tcp" (a connection) or "udp" (datagrams: ``Trace.datagrams``); for "udp",
    ``request`` is what the reference client sends a server.  ``manner``: how kindly the
    counterpart behaves (``--stress``): a peers.Manner for TCP, a peers_udp.DatagramManner for UDP."""
    if transport == UDP:
        from grader.running.peers_udp import DatagramManner

        kind = manner if isinstance(manner, DatagramManner) else DatagramManner()
        return _DatagramSession(role, source, exercise, message, time_limit, sandbox, request, kind).run(started)
    if transport != TCP:
        raise ValueError("transport must be %r or %r, not %r" % (TCP, UDP, transport))
    return _Session(role, source, exercise, message, time_limit, sandbox, conversation, manner).run(started)


class _Session:
    def __init__(self, role: str, source: Path, exercise: Exercise, message: bytes,
                 time_limit: float, sandbox: bool = False, conversation: Conversation = Conversation(),
                 manner: Manner = Manner()):
        self.role = role
        self.manner = manner
        self.exercise = exercise
        self.message = message
        self.time_limit = time_limit
        self.inbox: "queue.Queue" = queue.Queue()
        self.events: List[Dict] = []
        self.program = ProgramRun(source, on_event=lambda e: self.inbox.put(("event", e)),
                                  sandbox=sandbox)
        self.peer = None
        self.main_pid: Optional[int] = None
        self.finished_status: Optional[int] = None
        self.quiet_reason: Optional[str] = None  # set once the program can make no progress
        self.quiet_since = 0.0
        self.connection_made = False  # the program's side: accept() or connect() returned
        self.accepted_conn: Optional[int] = None
        self.shut_down_socks: set = set()
        self.conversation = conversation
        # Bytes the program has read from the accepted connection: a server still owed part of
        # the reference client's line is not stuck in recv().
        self.consumed = 0
        # A client waiting in recv() before the reference server replied: asked to reply now
        # (None: not asked; False until it answers; True once it did, or had nothing to answer).
        self.reply_asked: Optional[bool] = None
        # The reference client was asked to close its side (None: not asked; else its answer,
        # False until it comes).
        self.hang_up: Optional[bool] = None
        self.stopping = False  # the grader has decided to stop the program
        self.listen_verified: Optional[bool] = None
        self.code_started_at = 0.0  # when the probe got its configuration and ran the program
        self.connection_inodes: Dict[int, Optional[int]] = {}
        self.open_at_end: Optional[frozenset] = None
        # Set the moment the process ends (Popen.wait with a timeout would poll, and be late).
        self.exited = threading.Event()

    # -- main loop ------------------------------------------------------------------------------

    def run(self, program: Optional[StartedProgram] = None) -> Trace:
        started = time.monotonic()
        # Until the probe says hello, the limit also allows for the interpreter's start, which
        # can be slow on a loaded machine; from hello on, it is the student's code that counts.
        self.deadline = started + self.time_limit + STARTUP_ALLOWANCE
        stopped_because = None
        try:
            self.program.start(program)
            threading.Thread(target=self._watch_exit, daemon=True).start()
            while True:
                now = time.monotonic()
                if self.quiet_reason is not None:
                    # The program can do nothing more: only the counterpart's view may still
                    # arrive, a wait bounded by the grace, not by the program's time limit.
                    wake_at = self.quiet_since + self._grace()
                    if self._peer_finished() or now >= wake_at:
                        break
                elif now >= self.deadline:
                    stopped_because = STOPPED_TIME_LIMIT
                    break
                else:
                    wake_at = self.deadline
                try:
                    kind, item = self.inbox.get(timeout=max(0.0, wake_at - now))
                except queue.Empty:
                    continue
                if kind == "event":
                    self._on_event(item)
                elif kind == "exit":
                    self._quiet("exited")
                elif kind == "hung_up":
                    self._on_hung_up(item)
                elif kind == "replied":
                    replied, blocked = item
                    self.reply_asked = True
                    if not replied and blocked:
                        self._quiet(STALLED_RECV_FIRST)  # waits for a reply to nothing: the deadlock
            if self.quiet_reason not in (None, "finished", "exited") and stopped_because is None:
                stopped_because = self.quiet_reason
        finally:
            output = self._stop()
        self._drain_inbox()
        exit_status = None if stopped_because else output.exit_status
        if self.program.process is not None and exit_status is not None and exit_status < 0:
            exit_status = None  # killed by a signal (e.g. a resource limit)
        return Trace(
            role=self.role, message=self.message, events=self.events,
            peer=self._peer_observation(), **self._transport_fields(),
            output=output, finished_status=self.finished_status, exit_status=exit_status,
            stopped_because=stopped_because,
            started_at=self.code_started_at or self.program.started_at or started,
            duration=time.monotonic() - started, time_limit=self.time_limit,
            main_pid=self.main_pid, listen_verified=self.listen_verified,
            connection_inodes=self.connection_inodes, open_at_end=self.open_at_end,
            interference=output.interference + self._tamper_reasons(),
        )

    def _peer_observation(self) -> Observation:
        return self.peer.observation if self.peer else Observation()

    def _transport_fields(self) -> Dict:
        return {}

    def _tamper_reasons(self) -> Tuple[str, ...]:
        tampered = [e.get("claimed", "") for e in self.events if e["kind"] == "tamper"]
        if not tampered:
            return ()
        claimed = sorted(set(tampered))
        return ("the program called the grader's probe directly %d time(s) (to report: %s)"
                % (len(tampered), ", ".join(claimed[:5])),)

    def _grace(self) -> float:
        # Waiting for the counterpart to see the connection end only makes sense when a
        # connection exists and the program is not blocked reading from it.
        if not self.connection_made or self.quiet_reason == STALLED_RECV:
            return 0.0
        return self.exercise.peer_grace

    def _peer_finished(self) -> bool:
        return self.peer is None or self.peer.done.is_set()

    def _watch_exit(self) -> None:
        self.program.process.wait()
        self.exited.set()
        self.inbox.put(("exit", None))

    def _peer_done(self) -> None:
        self.inbox.put(("peer", None))

    def _quiet(self, reason: str) -> None:
        if self.quiet_reason is None:
            self.quiet_reason = reason
            self.quiet_since = time.monotonic()

    def _stop(self) -> RunOutput:
        """End the session so that nothing the grader does can pass for the program's doing.

        A finished program is held by the probe and can do nothing more: stop the counterpart
        first, then release it.  Any other program (stalled, out of time) might react to the
        counterpart going away, e.g. wake up from recv() and send: so it is killed first, and
        from the moment we decide to stop, the counterpart no longer counts it as alive.
        """
        self.open_at_end = self._open_at_end()
        if self.quiet_reason == "finished" and self.finished_status is not None:
            self._stop_peer()
            self.program.release()
            self.exited.wait(timeout=1.0)
            return self.program.finish()
        self.stopping = True
        output = self.program.finish()
        self._stop_peer()
        return output

    def _stop_peer(self) -> None:
        if self.peer is not None:
            self.peer.stop()

    def _program_socket(self, obs: Observation) -> Optional[int]:
        """The inode of the program's end of the counterpart's connection (the peers ask)."""
        if self.stopping:
            return None
        return self.program.connection_inode(obs.program_address, obs.own_address)

    def _open_at_end(self) -> Optional[frozenset]:
        """Asked of the kernel before anything is stopped: which sockets the program still
        holds (its close() is the program's word; a descriptor table is not).  Only asked
        when the kernel named the program's socket for the connection (peers.Observation)."""
        if self.peer is None or not self.peer.observation.program_socket:
            return None
        found = self.program.open_socket_inodes()
        return frozenset(found) if found is not None else None

    def _program_alive(self) -> bool:
        return not self.stopping and self.program.alive()

    def _drain_inbox(self) -> None:
        while True:
            try:
                kind, item = self.inbox.get_nowait()
            except queue.Empty:
                return
            if kind == "event":
                self.events.append(item)

    # -- events ---------------------------------------------------------------------------------

    def _on_event(self, event: Dict) -> None:
        self.events.append(event)
        kind = event["kind"]
        if kind == "hello" and self.main_pid is None:
            self._on_hello(event)
            return
        if kind == "tamper":
            return  # reported with the trace (_tamper_reasons)
        if kind == "accept_return" and event.get("ok"):
            self._note_accept(event)
        if event.get("pid") != self.main_pid:
            return  # a forked child: recorded, but it does not steer the session
        if kind == "listen" and event.get("ok") and self.role == SERVER and self.peer is None:
            self._start_reference_client(event)
        elif kind == "accept_return" and event.get("ok"):
            self.connection_made = True
            if self.accepted_conn is None:
                self.accepted_conn = event.get("conn")
        elif kind == "connect_return" and event.get("ok"):
            self.connection_made = True
        elif kind == "shutdown" and event.get("ok") and event.get("how") in (socket.SHUT_WR, socket.SHUT_RDWR):
            self.shut_down_socks.add(event.get("sock"))
        elif kind == "finished":
            self.finished_status = event.get("status")
            self._quiet("finished")
        elif kind == "recv_return" and event.get("ok") and event.get("sock") == self.accepted_conn:
            self.consumed += int(event.get("size") or 0)
        elif kind == "recv_call" and self.role == CLIENT and self.conversation.receive_first \
                and self.connection_made and self.reply_asked is None and isinstance(self.peer, ReferenceServer):
            # The reference server waits for the client's line: the client waiting now has sent
            # all it will send first, so the server replies to what came (or nothing came).
            self.reply_asked = False
            blocked = event.get("timeout") is None and event.get("threads", 1) == 1
            self.peer.reply_now(lambda replied: self.inbox.put(("replied", (replied, blocked))))
        elif kind in ("accept_call", "recv_call"):
            reason = self._stall(event)
            if reason == STALLED_RECV and self.hang_up is None and isinstance(self.peer, ReferenceClient):
                # Not stuck yet if the client has the data: it closes its side (policy 7).
                self.hang_up = False
                self.peer.hang_up(lambda closed: self.inbox.put(("hung_up", closed)))
            elif reason:
                self._quiet(reason)

    def _on_hello(self, event: Dict) -> None:
        self.main_pid = event.get("pid")
        self.deadline = time.monotonic() + self.time_limit
        # Only now: a sandboxed program's network namespace exists from here on.
        self._start_counterpart_at_hello()
        self.program.configure(self._probe_config())
        self.code_started_at = time.monotonic()

    def _start_counterpart_at_hello(self) -> None:
        if self.role == CLIENT:
            self._start_reference_server()

    def _on_hung_up(self, closed: bool) -> None:
        self.hang_up = closed
        if not closed:
            self._quiet(STALLED_RECV)  # it waits for a client that got nothing: the deadlock

    def _note_accept(self, event: Dict) -> None:
        """Ask the kernel, while it matters, which socket holds the connection the event claims:
        one still in the listener's queue has no owner, so an accept() that never happened
        shows here."""
        local, remote = kernel.endpoint(event.get("local")), kernel.endpoint(event.get("peer"))
        inode = self.program.connection_inode(local, remote) if local and remote else 0
        self.connection_inodes[len(self.events) - 1] = inode

    def _probe_config(self) -> Dict:
        config = {
            "role": self.role,
            "display_path": str(self.program.source.resolve()),
            "hold": self.time_limit + 5.0,
            # resource limits (grader/running/probe/bootstrap.py: _apply_limits)
            "memory": MEMORY_LIMIT, "file_size": FILE_SIZE_LIMIT, "cpu": int(self.time_limit) + 1,
        }
        if self.role == CLIENT and self.peer is not None:
            config["connect_host"], config["connect_port"] = self.peer.address
        return config

    def _start_reference_server(self) -> None:
        try:
            self.peer = ReferenceServer(self.message, self.deadline, self._program_alive,
                                        self._peer_done, new_socket=self.program.new_socket,
                                        inspect=self._program_socket, conversation=self.conversation,
                                        manner=self.manner)
        except OSError:
            return  # the program is gone already, and with it its network namespace
        self.peer.start()

    def _start_reference_client(self, listen_event: Dict) -> None:
        address = listen_event.get("address")
        if not (isinstance(address, list) and len(address) == 2):
            return
        host, port = address
        # A socket listening without bind() listens on every interface: reach it on loopback.
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        if host not in ("127.0.0.1", "::1") or not isinstance(port, int):
            return  # only ever connect to this machine's loopback
        if not self.program.owns_listener(port, ipv6=":" in host):
            self.listen_verified = False
            return  # the event named a port the program does not listen on: someone else's
        self.listen_verified = True
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.peer = ReferenceClient((host, port), family, self.deadline, self._program_alive,
                                    self._peer_done, new_socket=self.program.new_socket,
                                    inspect=self._program_socket, line=self.conversation.line,
                                    manner=self.manner)
        self.peer.start()

    def _stall(self, event: Dict) -> Optional[str]:
        """Why a blocking call can never return, or None.  Only for single-threaded programs
        in blocking mode: anything else might still be woken by the program itself."""
        if event.get("timeout") is not None or event.get("threads", 1) != 1:
            return None
        if self.role != SERVER:
            return None
        if event["kind"] == "accept_call" and self.accepted_conn is not None:
            return STALLED_ACCEPT
        if (event["kind"] == "recv_call" and event.get("sock") == self.accepted_conn
                and self.accepted_conn not in self.shut_down_socks and not self.hang_up
                and self.consumed >= len(self.conversation.line)):
            return STALLED_RECV  # (once the client closed its side, recv() returns b'')
        return None


class _DatagramSession(_Session):
    """A datagram (UDP) session: the program against ``peers_udp``'s reference client or server.

    It ends as soon as the outcome can no longer change:

    * the program *finished* (held by the probe), or its process ended, or the time limit passed,
      as in a TCP session;
    * the program *stalled*: single-threaded and blocking, it waits in ``recvfrom()`` (or
      ``recv()``) on a datagram socket that has already received every datagram the counterpart
      sent to it.  The counterpart sends nothing unasked (the client its one request, the server
      one reply to the first request), and a program blocked in a receive cannot ask; likewise
      ``accept()`` (a TCP socket in a UDP lab), which no reference program will ever connect to.

    There is no end of stream to wait for, so no grace either: loopback delivers a datagram
    within the sender's call, and the counterpart reads what is queued before it stops.
    """

    def __init__(self, role: str, source: Path, exercise: Exercise, message: bytes,
                 time_limit: float, sandbox: bool, request: bytes,
                 manner: "DatagramManner"):
        super().__init__(role, source, exercise, message, time_limit, sandbox)
        self.request = request
        self.datagram_manner = manner
        self.received_on: Dict[int, int] = {}  # the program's datagram socket -> datagrams it got

    def _peer_observation(self) -> Observation:
        return Observation()  # no connection: the datagrams are in ``Trace.datagrams``

    def _transport_fields(self) -> Dict:
        from grader.running.peers_udp import DatagramObservation

        return {"transport": UDP,
                "datagrams": self.peer.observation if self.peer is not None else DatagramObservation()}

    def _grace(self) -> float:
        return 0.0

    def _start_counterpart_at_hello(self) -> None:
        from grader.running.peers_udp import ReferenceUdpClient, ReferenceUdpServer

        if self.role == CLIENT:
            kind, payload = ReferenceUdpServer, self.message
        else:
            kind, payload = ReferenceUdpClient, self.request
        try:
            self.peer = kind(payload, self.deadline, self._program_alive, self._peer_done,
                             new_socket=self.program.new_socket, inspect=self._program_udp_socket,
                             manner=self.datagram_manner)
        except OSError:
            return  # the program is gone already, and with it its network namespace
        self.peer.start()

    def _probe_config(self) -> Dict:
        # The client's TCP connects (a SOCK_STREAM client in a UDP lab) also go to the server's
        # port, where, as on the lab's computers, no TCP server listens.
        config = super()._probe_config()
        if self.peer is not None:
            host, port = self.peer.address
            config["udp_host"], config["udp_port"] = host, port
            if self.role == SERVER:
                # A reply to the sender's address reaches the client; any other address, the
                # client's stand-in for "elsewhere".
                config["udp_port"], config["udp_keep_port"] = self.peer.elsewhere_address[1], port
        return config

    def _program_udp_socket(self, address) -> Optional[int]:
        """The inode of the program's UDP socket at ``address``: 0 when the kernel shows none
        there that the program holds; None when it cannot tell."""
        if self.stopping:
            return None
        inode = self.program.udp_socket_inode(address)
        if not inode:
            return inode
        return 0 if self.program.holds_socket(inode) is False else inode

    def _open_at_end(self) -> Optional[frozenset]:
        if self.peer is None or not self.peer.observation.program_socket:
            return None
        found = self.program.open_socket_inodes()
        return frozenset(found) if found is not None else None

    def _on_event(self, event: Dict) -> None:
        self.events.append(event)
        kind = event["kind"]
        if kind == "hello" and self.main_pid is None:
            self._on_hello(event)
            return
        if kind == "tamper" or event.get("pid") != self.main_pid:
            return  # tampering is reported with the trace; a forked child does not steer
        if kind == "bind" and event.get("ok") and event.get("type") == socket.SOCK_DGRAM:
            if self.role == SERVER:
                self._send_request(event)
        elif kind == "datagram_recv_return" and event.get("ok"):
            sock = event.get("sock")
            self.received_on[sock] = self.received_on.get(sock, 0) + 1
        elif kind in ("datagram_recv_call", "accept_call"):
            reason = self._datagram_stall(event)
            if reason:
                self._quiet(reason)
        elif kind == "finished":
            self.finished_status = event.get("status")
            self._quiet("finished")

    def _send_request(self, bind_event: Dict) -> None:
        """The server's datagram socket is bound: send the request there, once the kernel shows
        that a socket of the program is bound at that port (the event alone is its word)."""
        from grader.running.peers_udp import ReferenceUdpClient

        peer = self.peer
        address = kernel.endpoint(bind_event.get("address"))
        if not isinstance(peer, ReferenceUdpClient) or address is None:
            return
        host, port = address
        if host not in ("127.0.0.1", "0.0.0.0", "::ffff:127.0.0.1", "::ffff:0.0.0.0", "::"):
            return  # only ever send to this machine's IPv4 loopback (::1 is out of reach)
        if port in (peer.address[1], peer.elsewhere_address[1]):
            peer.observation.program_socket = 0  # the counterpart's own port: not the program's
            return
        inode = self._program_udp_socket(("127.0.0.1", port))
        if inode == 0:
            peer.observation.program_socket = 0
            return
        peer.send_request(("127.0.0.1", port), inode)

    def _datagram_stall(self, event: Dict) -> Optional[str]:
        """Why a blocking receive can never return, or None (single-threaded, blocking only)."""
        if event.get("timeout") is not None or event.get("threads", 1) != 1:
            return None
        if event["kind"] == "accept_call":
            return STALLED_ACCEPT_UDP
        if self.peer is not None:
            self.peer.catch_up()  # what the program sent so far has been answered
            local = kernel.endpoint(event.get("local"))
            # A datagram the counterpart will send later (--stress) is on its way too.
            delivered = self.peer.sent_or_due(local[1]) if local and local[1] else 0
        else:
            delivered = 0
        return STALLED_RECVFROM if self.received_on.get(event.get("sock"), 0) >= delivered else None
