"""The reference counterparts, run in the grader's process, and what they observed.

They behave like ``reference/client.py`` and ``reference/server.py`` toward the student's
program, and they are the authority for the message and close checks: the student's process can
write anything into its own event log, but it cannot forge what arrived here.

One deliberate difference from the reference server: after sending the message it shuts down its
side and keeps reading until the client closes.  Closing with unread data would make the kernel
send a reset, and a client that (against the handout) sends something first would then lose the
message for a reason that is not its own.
"""
from __future__ import annotations

import selectors
import socket
import threading
import time
from typing import Callable, List, NamedTuple, Optional, Tuple

RECEIVE_LIMIT = 1 << 16  # bytes kept of what the program sent us


class Conversation(NamedTuple):
    """What a counterpart says besides connecting and reading to the end (the default: Hello
    World's, where the reference client sends nothing and the reference server sends first)."""

    line: bytes = b""  # reference client: sent right after connecting
    receive_first: bool = False  # reference server: reads the client's line before replying
    # Reference server: its reply to the line it read (None: it sends its message).
    reply: Optional[Callable[[bytes], bytes]] = None


class Manner(NamedTuple):
    """How kindly a counterpart behaves (``--stress``: legal, but less kind than the default).
    Every field's default is the reference programs' own behaviour."""

    chunk_size: int = 0  # what it sends goes in pieces of this many bytes (0: all at once)
    chunk_delay: float = 0.0  # seconds between two pieces
    connect_delay: float = 0.0  # reference client: seconds it waits before connecting
    accept_delay: float = 0.0  # reference server: seconds it waits before accepting
    close_first: bool = False  # reference client: shuts down its write side once connected
    family: int = socket.AF_INET  # reference server: listens on ::1 with AF_INET6


def plain_socket(family: int) -> socket.socket:
    """A TCP socket in the grader's own network: the default ``new_socket`` of the
    counterparts (a sandboxed program's counterpart gets its sockets from the sandbox)."""
    return socket.socket(family, socket.SOCK_STREAM)


class Observation:
    """What a counterpart saw of one connection, in its own words (filled in as it happens)."""

    def __init__(self) -> None:
        self.connected = False
        self.connected_at: Optional[float] = None
        self.program_address: Optional[Tuple[str, int]] = None  # the program's end of the connection
        self.own_address: Optional[Tuple[str, int]] = None  # this counterpart's end of it
        self.connect_error: Optional[str] = None
        self.received = b""
        self.received_total = 0
        self.pieces: List[int] = []  # sizes of the recv() results, in order
        self.sent = b""
        self.sent_at: Optional[float] = None  # when ``sent`` was handed to the kernel
        self.received_before_sending = 0  # bytes it had received then: a reply comes after them
        self.send_error: Optional[str] = None
        # How the connection ended from here: "eof" (the program closed), "reset", "stopped" (the
        # grader ended the wait: the program finished, stalled or ran out of time), or None.
        self.ended: Optional[str] = None
        self.ended_at: Optional[float] = None
        self.program_alive_at_end: Optional[bool] = None
        # The inode of the program's socket for this connection (``grader.running.kernel``), asked when
        # the connection was made and, if nobody held it yet (a server's queue), again the
        # moment the end arrived, before this side closed.  0: no process held it; None: cannot
        # be told.  The session then asks whether the program still holds that socket.
        self.program_socket: Optional[int] = None
        # Reference client: it closed its side (shutdown for writing) after receiving data,
        # because the server waited in recv(), as the handout's client closes after its recv().
        self.hung_up = False
        self.hung_up_at: Optional[float] = None

    @property
    def closed_by_program(self) -> bool:
        """The program ended the connection while it was still running: an orderly close, or a
        reset because it closed with data left unread."""
        return self.ended in ("eof", "reset") and bool(self.program_alive_at_end)


class WakeableThread(threading.Thread):
    """A daemon thread whose wait ends at once when it is stopped or woken: it selects on its
    own end of a socket pair beside the sockets it reads.  Shared by the TCP counterparts and
    the datagram ones (``peers_udp``)."""

    def __init__(self, name: str):
        super().__init__(daemon=True, name=name)
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping = threading.Event()
        self.done = threading.Event()

    def _wake(self, why: bytes = b"x") -> bool:
        """Wake the thread's wait; False when it is over (its socket pair is closed)."""
        try:
            self._wake_w.send(why)
        except OSError:
            return False
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """End the wait and join."""
        self._stopping.set()
        self._wake()
        if self.is_alive():
            self.join(timeout)


class _Counterpart(WakeableThread):
    """Shared machinery: a stop that wakes the thread at once, and reading to the end."""

    def __init__(self, program_alive: Callable[[], bool], on_done: Callable[[], None], name: str,
                 inspect: Optional[Callable[["Observation"], Optional[int]]] = None,
                 manner: Manner = Manner()):
        super().__init__(name)
        self.manner = manner
        self.program_alive = program_alive
        self.inspect = inspect  # asks the kernel for the program's socket (program_socket)
        self.on_done = on_done
        self.observation = Observation()  # a stop records the end as "stopped" unless it ended

    def _wait_readable(self, sock: socket.socket, deadline: float,
                       until: Optional[Callable[[], bool]] = None) -> bool:
        """True when ``sock`` is readable; False when stopped, past the deadline, or ``until()``
        became true on a wake-up.  Data ready on ``sock`` is reported before a wake-up is
        handled (``_on_wake``), so what was already sent is read first."""
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopping.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                ready = [key.fileobj for key, _ in selector.select(remaining)]
                if sock in ready:
                    return True
                if ready and not self._stopping.is_set():
                    try:
                        self._wake_r.recv(64)
                    except OSError:
                        pass
                    self._on_wake(sock)
                    if until is not None and until():
                        return False
            return False

    def _on_wake(self, sock: socket.socket) -> None:
        """A wake-up that is not a stop (the reference client's hang-up request)."""

    def _send(self, sock: socket.socket, data: bytes) -> None:
        """sendall, or in ``manner.chunk_size`` pieces with ``manner.chunk_delay`` between them
        (each its own segment: no Nagle coalescing).  ``observation.sent`` holds what went."""
        size = self.manner.chunk_size
        if not size:
            sock.sendall(data)
            self.observation.sent += data
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for start in range(0, len(data), size):
            if start and self._stopping.wait(self.manner.chunk_delay):
                raise OSError("the grader stopped the session")
            sock.sendall(data[start:start + size])
            self.observation.sent += data[start:start + size]

    def _read_to_end(self, sock: socket.socket, deadline: float) -> None:
        obs = self.observation
        while True:
            if not self._wait_readable(sock, deadline):
                self._end("stopped")
                return
            try:
                data = sock.recv(4096)
            except ConnectionResetError:
                self._end("reset")
                return
            except OSError:
                self._end("reset")
                return
            if not data:
                self._end("eof")
                return
            obs.pieces.append(len(data))
            obs.received_total += len(data)
            room = RECEIVE_LIMIT - len(obs.received)
            if room > 0:
                obs.received += data[:room]

    def _end(self, how: str) -> None:
        obs = self.observation
        obs.ended = how
        obs.ended_at = time.monotonic()
        # Asked right after the end of stream: a program held by the probe is still alive, one
        # whose sockets were closed by its own death is not.
        obs.program_alive_at_end = self.program_alive()
        if how != "stopped" and not obs.program_socket:
            # Now, while this side is still open: once both sides have closed, a socket the
            # program still holds leaves the kernel's connection table.
            self._inspect()

    def _inspect(self) -> None:
        if self.inspect is not None:
            self.observation.program_socket = self.inspect(self.observation)

    def _finish(self) -> None:
        for s in (self._wake_r, self._wake_w):
            s.close()
        self.done.set()
        self.on_done()


class ReferenceClient(_Counterpart):
    """Connects to the student's server, receives until the server closes, then closes.  When
    asked (``hang_up``: the server waits in recv() after sending), it closes its side first."""

    def __init__(self, address, family: int, deadline: float,
                 program_alive: Callable[[], bool], on_done: Callable[[], None],
                 new_socket: Callable[[int], socket.socket] = plain_socket, inspect=None,
                 line: bytes = b"", manner: Manner = Manner()):
        super().__init__(program_alive, on_done, name="reference-client", inspect=inspect,
                         manner=manner)
        self.line = line  # sent right after connecting (Conversation.line)
        self.address = address
        self.family = family
        self.deadline = deadline
        self.new_socket = new_socket
        self._hang_up_answer: Optional[Callable[[bool], None]] = None

    def hang_up(self, answer: Callable[[bool], None]) -> None:
        """The server waits in recv(): close this side if data was received, as the handout's
        client does after its recv().  ``answer(True)`` once closed; ``answer(False)`` when
        nothing was received (the documented deadlock: the server waits before sending).
        Called from the session's thread; the answer comes from this one."""
        self._hang_up_answer = answer
        if not self._wake(b"h"):
            answer(False)

    def _on_wake(self, sock: socket.socket) -> None:
        answer, self._hang_up_answer = self._hang_up_answer, None
        if answer is None:
            return
        obs = self.observation
        if obs.received_total and not obs.hung_up:
            try:
                # Shut down, not close: the server sees the same end of stream, and we still
                # see whether it closes its side (the closes check rests on that).
                sock.shutdown(socket.SHUT_WR)
                obs.hung_up, obs.hung_up_at = True, time.monotonic()
            except OSError:
                pass
        answer(obs.hung_up)

    def run(self) -> None:
        obs = self.observation
        if self.manner.connect_delay and self._stopping.wait(self.manner.connect_delay):
            self._finish()  # stopped while still waiting to connect
            return
        try:
            sock = self.new_socket(self.family)
        except OSError as exc:  # sandboxed: the program's namespace is gone already
            obs.connect_error = "%s: %s" % (type(exc).__name__, exc)
            self._finish()
            return
        try:
            sock.settimeout(max(0.1, self.deadline - time.monotonic()))
            try:
                sock.connect(self.address)
            except OSError as exc:
                obs.connect_error = "%s: %s" % (type(exc).__name__, exc)
                return
            sock.settimeout(None)
            obs.connected = True
            obs.connected_at = time.monotonic()
            obs.program_address = sock.getpeername()[:2]
            obs.own_address = sock.getsockname()[:2]
            self._inspect()
            if self.line:
                try:
                    obs.sent_at = time.monotonic()  # before: the program may read it before sendall() returns
                    self._send(sock, self.line)
                except OSError as exc:
                    obs.send_error = "%s: %s" % (type(exc).__name__, exc)
            if self.manner.close_first:
                try:  # still reading: only the write side is closed
                    sock.shutdown(socket.SHUT_WR)
                    obs.hung_up, obs.hung_up_at = True, time.monotonic()
                except OSError:
                    pass
            self._read_to_end(sock, self.deadline)
        finally:
            sock.close()
            self._finish()


class ReferenceServer(_Counterpart):
    """Listens on a loopback ephemeral port, accepts one client, sends the message, shuts down
    its side, reads until the client closes, then closes.  With ``conversation.receive_first``
    it first reads the client's line (to the first newline, the end of stream, or until the
    client waits in recv(): ``reply_now``) and sends ``conversation.reply`` of it instead."""

    def __init__(self, message: bytes, deadline: float,
                 program_alive: Callable[[], bool], on_done: Callable[[], None],
                 new_socket: Callable[[int], socket.socket] = plain_socket, inspect=None,
                 conversation: Conversation = Conversation(), manner: Manner = Manner()):
        super().__init__(program_alive, on_done, name="reference-server", inspect=inspect,
                         manner=manner)
        self.message = message
        self.conversation = conversation
        self._reply_answer: Optional[Callable[[bool], None]] = None
        self._asked = False
        self.deadline = deadline
        try:
            self.listener = new_socket(manner.family)
        except OSError:
            for s in (self._wake_r, self._wake_w):
                s.close()
            raise
        self.listener.bind(("::1" if manner.family == socket.AF_INET6 else "127.0.0.1", 0))
        self.listener.listen(1)
        self.address: Tuple[str, int] = self.listener.getsockname()[:2]

    def run(self) -> None:
        obs = self.observation
        conn = None
        try:
            if not self._wait_readable(self.listener, self.deadline):
                return
            if self.manner.accept_delay and self._stopping.wait(self.manner.accept_delay):
                return  # (the client's connection waits in the queue meanwhile)
            conn, address = self.listener.accept()
            obs.connected = True
            obs.connected_at = time.monotonic()
            obs.program_address = address[:2]
            obs.own_address = conn.getsockname()[:2]
            self._inspect()  # the client's socket, held: it waits for the message
            payload = self.message
            if self.conversation.receive_first:
                line = self._read_line(conn)
                if line is None:
                    return
                payload = self.conversation.reply(line) if self.conversation.reply else self.message
            try:
                obs.sent_at = time.monotonic()  # before: the program may read it before sendall() returns
                obs.received_before_sending = obs.received_total
                self._send(conn, payload)
                conn.shutdown(socket.SHUT_WR)
            except OSError as exc:
                obs.send_error = "%s: %s" % (type(exc).__name__, exc)
            self._read_to_end(conn, self.deadline)
        finally:
            if conn is not None:
                conn.close()
            self.listener.close()
            answer, self._reply_answer = self._reply_answer, None
            if answer is not None:
                answer(True)  # gone: the client's recv() returns
            self._finish()

    def reply_now(self, answer: Callable[[bool], None]) -> None:
        """The client waits in recv(): reply to what it sent so far, without waiting for a
        newline.  ``answer(False)`` when it sent nothing yet (it waits for a reply to nothing),
        ``answer(True)`` otherwise.  Called from the session's thread; the answer comes from
        this one (or at once, when this one is over)."""
        self._reply_answer = answer
        if not self._wake(b"r"):
            self._reply_answer = None
            answer(True)

    def _on_wake(self, sock: socket.socket) -> None:
        answer, self._reply_answer = self._reply_answer, None
        if answer is None:
            return
        got = bool(self.observation.received)
        if got:
            self._asked = True
        answer(got)

    def _read_line(self, conn: socket.socket) -> Optional[bytes]:
        """What the client sent, to its first newline (kept), the end of its stream, or what
        there is when it waits for the reply; None when the wait ended otherwise (recorded)."""
        obs = self.observation
        while b"\n" not in obs.received and not self._asked:
            if not self._wait_readable(conn, self.deadline, until=lambda: self._asked):
                if self._asked:
                    break
                self._end("stopped")
                return None
            try:
                data = conn.recv(4096)
            except OSError:
                self._end("reset")
                return None
            if not data:
                break  # the client shut down its side: reply to what came
            obs.pieces.append(len(data))
            obs.received_total += len(data)
            obs.received += data[:max(0, RECEIVE_LIMIT - len(obs.received))]
        end = obs.received.find(b"\n")
        return obs.received[:end + 1] if end >= 0 else obs.received
