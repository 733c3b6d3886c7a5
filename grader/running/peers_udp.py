"""The reference counterparts of a datagram (UDP) lab, run in the grader's process, and what they
observed.

The datagram twins of ``grader.running.peers``: the authority for what the program sent, since the
program can write anything into its own event log but cannot forge what arrived here.  UDP has
no connection, so there is no end of stream to see: a counterpart records every datagram (its
bytes, its sender, whether the program's process was alive then) until the session stops it.

* ``ReferenceUdpClient`` (grading a server): once the session has seen the server's socket bound
  (and the kernel confirmed it is the program's), it sends one request datagram there and
  records every datagram that comes back.  A second socket, ``elsewhere``, stands for "any other
  address": the probe routes a datagram the server addresses anywhere but the client's own port
  there, so a reply sent to a hard-coded address is seen, and seen not to reach the client.
* ``ReferenceUdpServer`` (grading a client): bound on a loopback ephemeral port (every datagram
  and UDP connect of the client is routed there), it answers the first request with the message,
  to the sender's address, and records everything.

``DatagramManner`` makes a counterpart less kind, legally (``--stress``): the request or the
reply sent late, the reply sent from another port than the one the request went to.

Datagrams are handled under one lock, by the counterpart's thread as they arrive and by
``catch_up`` when the session asks: a datagram the program sent has reached the counterpart's
socket by the time its send event arrives (loopback delivers within the call), so after
``catch_up`` the session knows everything the counterpart has answered (its stall decision).
"""
from __future__ import annotations

import selectors
import socket
import threading
import time
from typing import Callable, List, NamedTuple, Optional, Tuple

from grader.running.peers import RECEIVE_LIMIT, WakeableThread  # bytes kept of what the program sent us

MAX_DATAGRAMS = 200  # datagrams recorded per list; past it only ``received_total`` counts
_LARGEST = 65535  # the largest datagram there is

Address = Tuple[str, int]


class DatagramManner(NamedTuple):
    """How kindly a datagram counterpart behaves (the default: at once, from its one socket)."""

    request_delay: float = 0.0  # the reference client sends its request this late (seconds)
    reply_delay: float = 0.0  # the reference server replies this long after the request came
    reply_from_other_port: bool = False  # the reference server replies from a second socket


class Datagram(NamedTuple):
    data: bytes  # what was kept of it (RECEIVE_LIMIT)
    address: Address  # the sender (received) or the destination (sent)
    at: float  # time.monotonic()
    size: int  # its whole size
    # Received: whether the program's process was alive when it arrived (None: not asked).
    program_alive: Optional[bool] = None


class DatagramObservation:
    """What a datagram counterpart saw, in its own words (filled in as it happens)."""

    def __init__(self) -> None:
        self.own_address: Optional[Address] = None  # the counterpart's socket
        # Grading a server: where the request was sent (the program's bound socket); grading a
        # client: the sender of the first request.  None: no exchange began.
        self.program_address: Optional[Address] = None
        self.sent: List[Datagram] = []  # what this counterpart sent (the request or the reply)
        self.send_error: Optional[str] = None
        self.received: List[Datagram] = []  # datagrams that reached its own socket
        # Grading a server: datagrams the program addressed elsewhere than the sender's address
        # (the probe routed them to the counterpart's stand-in for "anywhere else").
        self.elsewhere: List[Datagram] = []
        self.received_total = 0  # datagrams received in all, both sockets, recorded or not
        # The kernel's inode of the program's socket (grading a server: the one it bound, once
        # confirmed as the program's; grading a client: the one its request came from).  0: no
        # socket of the program there; None: cannot be told (or never asked).
        self.program_socket: Optional[int] = None
        self.stopped_at: Optional[float] = None  # when the session stopped it

    def delivered_to(self, port: int) -> int:
        """How many datagrams this counterpart sent to ``port`` (the program's socket)."""
        return sum(1 for d in self.sent if d.address[1] == port)


class _DatagramCounterpart(WakeableThread):
    """Shared machinery: sockets read as datagrams arrive, a stop that wakes the thread at once
    and reads what is already queued first."""

    def __init__(self, deadline: float, program_alive: Callable[[], bool], on_done: Callable[[], None],
                 name: str, new_socket: Callable[[int, int], socket.socket], sockets: int,
                 inspect: Optional[Callable[[Address], Optional[int]]] = None, tcp_guard: bool = False):
        super().__init__(name)
        self.deadline = deadline
        self.program_alive = program_alive
        self.on_done = on_done
        self.inspect = inspect  # asks the kernel for the program's socket at an address
        self.observation = DatagramObservation()
        self._scheduled: List[Tuple[float, bytes, Address, int]] = []  # (when, data, to, socket index)
        self._lock = threading.Lock()
        self.sockets: List[socket.socket] = []
        # ``tcp_guard``: a TCP socket bound, never listening, on the first socket's port number,
        # so that a TCP connect routed there (a SOCK_STREAM client in a UDP lab) is refused, as
        # on the lab's computers, and never reaches another program listening on that number.
        self._tcp_guard: Optional[socket.socket] = None
        try:
            for number in range(sockets):
                self.sockets.append(self._bound(new_socket, tcp_guard and number == 0))
        except OSError:
            self._close()
            raise
        self.observation.own_address = self.sockets[0].getsockname()[:2]

    def _bound(self, new_socket, tcp_guard: bool) -> socket.socket:
        """A non-blocking UDP socket on a loopback ephemeral port; with ``tcp_guard``, one whose
        number is free for TCP too (a few tries; the last one is kept, guarded or not)."""
        for attempt in range(1, 9):
            sock = new_socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.bind(("127.0.0.1", 0))
                sock.setblocking(False)
                if not tcp_guard or self._guard(new_socket, sock.getsockname()) or attempt == 8:
                    return sock
            except OSError:
                sock.close()
                raise
            sock.close()  # that number is taken for TCP: another one
        raise AssertionError("unreachable: the last try returns")

    def _guard(self, new_socket, address: Address) -> bool:
        guard = new_socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            guard.bind(address)
        except OSError:
            guard.close()
            return False
        self._tcp_guard = guard
        return True

    @property
    def address(self) -> Address:
        return self.observation.own_address

    def stop(self, timeout: float = 5.0) -> None:
        """Read what has arrived, stop, and join."""
        was_running = self.is_alive()
        super().stop(timeout)
        if not was_running and not self.done.is_set():  # never started: still read what came and close
            self.catch_up()
            self._finish()

    def catch_up(self) -> None:
        """Handle every datagram already queued on the counterpart's sockets, now."""
        with self._lock:
            for sock in self.sockets:
                self._drain(sock)

    def sent_or_due(self, port: int) -> int:
        """How many datagrams this counterpart sent, or will send, to ``port``."""
        with self._lock:
            return self.observation.delivered_to(port) + sum(1 for d in self._scheduled if d[2][1] == port)

    def _send_later(self, delay: float, data: bytes, to: Address, via: int = 0) -> None:
        """Send now, or ``delay`` seconds from now (the thread's loop does it); call under the lock."""
        if delay <= 0:
            self._send(data, to, via)
        else:
            self._scheduled.append((time.monotonic() + delay, data, to, via))
            self._wake()  # the loop recomputes when to wake

    def _send_due(self) -> None:
        with self._lock:
            now = time.monotonic()
            due = [d for d in self._scheduled if d[0] <= now]
            self._scheduled = [d for d in self._scheduled if d[0] > now]
            for _, data, to, via in due:
                self._send(data, to, via)

    def run(self) -> None:
        try:
            with selectors.DefaultSelector() as selector:
                for sock in self.sockets + [self._wake_r]:
                    selector.register(sock, selectors.EVENT_READ)
                while not self._stopping.is_set():
                    now = time.monotonic()
                    if self.deadline - now <= 0:
                        break
                    with self._lock:
                        wake = min([self.deadline] + [d[0] for d in self._scheduled])
                    ready = [key.fileobj for key, _ in selector.select(max(0.0, wake - now))]
                    if self._wake_r in ready:
                        self._wake_r.recv(64)
                    if any(sock in ready for sock in self.sockets):
                        self.catch_up()
                    self._send_due()
            self.catch_up()  # what arrived before the stop counts
        finally:
            self._finish()

    def _drain(self, sock: socket.socket) -> None:
        while True:
            try:
                data, sender = sock.recvfrom(_LARGEST)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. an ICMP error reported on the socket: not a datagram
                return
            self.observation.received_total += 1
            self._on_datagram(sock, data, sender[:2])

    def _record(self, into: List[Datagram], data: bytes, sender: Address) -> Datagram:
        kept = sum(len(d.data) for d in self.observation.received + self.observation.elsewhere)
        datagram = Datagram(data[:max(0, RECEIVE_LIMIT - kept)], sender, time.monotonic(), len(data),
                            self.program_alive())
        if len(into) < MAX_DATAGRAMS:
            into.append(datagram)
        return datagram

    def _send(self, data: bytes, to: Address, via: int = 0) -> None:
        obs = self.observation
        at = time.monotonic()  # before: the program may have it before this thread runs again
        try:
            self.sockets[via].sendto(data, to)
        except OSError as exc:
            obs.send_error = "%s: %s" % (type(exc).__name__, exc)
            return
        obs.sent.append(Datagram(data, to, at, len(data)))

    def _on_datagram(self, sock: socket.socket, data: bytes, sender: Address) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        for sock in self.sockets + [self._wake_r, self._wake_w]:
            sock.close()
        if self._tcp_guard is not None:
            self._tcp_guard.close()

    def _finish(self) -> None:
        if self.done.is_set():
            return
        self.observation.stopped_at = time.monotonic()
        self._close()
        self.done.set()
        self.on_done()


class ReferenceUdpClient(_DatagramCounterpart):
    """Sends one request to the student's server (``send_request``) and records the replies."""

    def __init__(self, request: bytes, deadline: float, program_alive: Callable[[], bool],
                 on_done: Callable[[], None],
                 new_socket: Callable[[int, int], socket.socket] = socket.socket, inspect=None,
                 manner: DatagramManner = DatagramManner()):
        super().__init__(deadline, program_alive, on_done, "reference-udp-client", new_socket, 2, inspect)
        self.request = request
        self.manner = manner
        self.elsewhere_address: Address = self.sockets[1].getsockname()[:2]

    def send_request(self, to: Address, program_socket: Optional[int] = None) -> None:
        """Send the request to the server's socket at ``to`` (once; later calls do nothing).
        ``program_socket``: the kernel's inode of that socket, as the session found it."""
        with self._lock:
            obs = self.observation
            if obs.program_address is not None or self._stopping.is_set():
                return
            obs.program_address, obs.program_socket = to, program_socket
            self._send_later(self.manner.request_delay, self.request, to)

    def _on_datagram(self, sock: socket.socket, data: bytes, sender: Address) -> None:
        obs = self.observation
        self._record(obs.received if sock is self.sockets[0] else obs.elsewhere, data, sender)


class ReferenceUdpServer(_DatagramCounterpart):
    """Answers the first request with the message, to its sender; records every datagram."""

    def __init__(self, message: bytes, deadline: float, program_alive: Callable[[], bool],
                 on_done: Callable[[], None],
                 new_socket: Callable[[int, int], socket.socket] = socket.socket, inspect=None,
                 manner: DatagramManner = DatagramManner()):
        super().__init__(deadline, program_alive, on_done, "reference-udp-server", new_socket,
                         2 if manner.reply_from_other_port else 1, inspect, tcp_guard=True)
        self.message = message
        self.manner = manner

    def _on_datagram(self, sock: socket.socket, data: bytes, sender: Address) -> None:
        obs = self.observation
        self._record(obs.received, data, sender)
        if obs.program_address is None:
            obs.program_address = sender
            if self.inspect is not None:  # now: the client waits for the reply on that socket
                obs.program_socket = self.inspect(sender)
            self._send_later(self.manner.reply_delay, self.message, sender,
                             1 if self.manner.reply_from_other_port else 0)
