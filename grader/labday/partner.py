"""``python -m grader partner server|client``: the grader as the lab partner, on the real network.

The handout's lab is two students on two computers.  Here the grader plays one of them: the
reference server, listening where the user asked (by default every interface, the handout's
port), or the reference client, connecting to a real HOST:PORT.  Each says in plain words what
happened on the wire (who connected, what was sent each way, how the connection ended) and
exits 0 when the exchange matched the exercise, 1 otherwise.

The conversation follows the exercise: a TCP server sends the message, or first reads the
client's line when the server's steps receive (echoing it when its send is an echo); a TCP client
sends a line first when the client's steps send; a datagram (UDP) lab is one request datagram
and one reply.  Small blocking implementations with time limits: nothing here runs a student's
program, so the session and probe machinery is not needed.
"""
from __future__ import annotations

import errno
import socket
import sys
import time
from typing import List, NamedTuple, Optional, TextIO, Tuple

from grader.exercises.steps import CLIENT, SERVER, Exercise

DEFAULT_PORT = 12345  # the handout's port, as in reference/server.py and reference/client.py
DEFAULT_TIMEOUT = 10.0  # seconds: a partner at the next desk answers well within it
DEFAULT_REQUEST = "Hello, server!"  # a datagram lab's request, when the exercise names none
QUIET_AFTER_LINE = 1.0  # a line without a newline is taken as complete after this long a pause
RECEIVE_LIMIT = 1 << 16  # bytes kept of what the other side sent
MATCHED, DIFFERENT = 0, 1
INTERRUPTED = 130


class Plan(NamedTuple):
    """What the reference programs of the exercise say, read from its steps."""

    client_sends: bool  # the client sends a line first (the server receives before it sends)
    server_echoes: bool  # the server's reply is the client's line; otherwise the message
    datagrams: bool  # UDP: a request datagram, a reply datagram


def plan_of(exercise: Exercise) -> Plan:
    server_steps = exercise.steps.get(SERVER, ())
    client_steps = exercise.steps.get(CLIENT, ())
    datagrams = exercise.transport == "udp"
    return Plan(
        client_sends=datagrams or any(s.kind == "send" for s in client_steps)
        or any(s.kind == "recv" for s in server_steps),
        server_echoes=any(s.kind == "send" and s.data == "echo" for s in server_steps),
        datagrams=datagrams)


def request_of(exercise: Exercise) -> bytes:
    """What the partner client sends first: the datagram lab's request, or a line of text."""
    if exercise.transport == "udp":
        return (getattr(exercise, "request", "") or DEFAULT_REQUEST).encode()
    return (exercise.message + "\n").encode()


def _quoted(data: bytes) -> str:
    text = data.decode("utf-8", "backslashreplace")
    text = text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
    text = "".join(ch if ch.isprintable() else "\\x%02x" % ord(ch) for ch in text)
    return '"%s" (%d byte%s)' % (text, len(data), "" if len(data) == 1 else "s")


def how_different(expected: bytes, got: bytes) -> str:
    """Why ``got`` is not ``expected``, in a few words."""
    if not got:
        return "nothing arrived"
    if got.strip() == expected.strip():
        return "it differs only in spaces or line ends around the text"
    if got.startswith(b"b'") or got.startswith(b'b"'):
        return "it is how Python prints a bytes object: send the bytes themselves (text.encode()), not str() of them"
    if expected.startswith(got):
        return "only the start of it arrived"
    if got.startswith(expected):
        return "more than it arrived"
    if got.lower() == expected.lower():
        return "the capital letters differ"
    return "it is another text"


def _error_name(exc: BaseException) -> str:
    return "%s: %s" % (type(exc).__name__, exc)


# -- finding this computer's addresses --------------------------------------------------------

def local_addresses() -> List[str]:
    """This computer's IPv4 addresses a partner could use, the outgoing interface first.

    A UDP socket "connected" to an address outside sends nothing: the system only picks the
    interface it would use, and getsockname() tells its address."""
    found: List[str] = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1 (RFC 5737): routed like the internet
            found.append(probe.getsockname()[0])
    except OSError:  # no network route at all
        pass
    try:
        found += socket.gethostbyname_ex(socket.gethostname())[2]
    except OSError:
        pass
    unique = []
    for address in found:
        if address not in unique and not address.startswith(("127.", "0.")):
            unique.append(address)
    return unique


# -- the partner server ------------------------------------------------------------------------

def _listener(bind: str, port: int, datagrams: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM if datagrams else socket.SOCK_STREAM)
    try:
        if not datagrams and sys.platform != "win32":  # on Windows it would let others share the port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((bind, port))
        if not datagrams:
            sock.listen(1)
    except BaseException:
        sock.close()
        raise
    return sock


def bind_problem(exc: OSError, bind: str, port: int) -> str:
    """Why the partner server could not start, for a beginner."""
    where = "on this computer" if not bind else "at %s" % bind
    if isinstance(exc, socket.gaierror):
        return ('"%s" is not a name or address of this computer: leave out --bind to listen on '
                "all of them." % bind)
    if exc.errno == errno.EADDRINUSE or getattr(exc, "winerror", None) == 10048:
        return ("port %d is already in use %s: is another server (yours, or an earlier partner "
                "server) still running? Stop it, or choose another port with --port." % (port, where))
    if exc.errno in (errno.EACCES, errno.EPERM):
        return ("this computer does not let you use port %d (ports below 1024 need administrator "
                "rights): choose one from 1024 to 65535 with --port." % port)
    if exc.errno == errno.EADDRNOTAVAIL:
        return ("%s is not an address of this computer: leave out --bind to listen on all of them."
                % bind)
    return "cannot listen on port %d %s: %s" % (port, where, exc.strerror or exc)


def serve(exercise: Exercise, port: int = DEFAULT_PORT, bind: str = "", count: Optional[int] = 1,
          timeout: float = DEFAULT_TIMEOUT, out: TextIO = sys.stdout) -> int:
    """Listen as the exercise's reference server; say what each of ``count`` exchanges looked
    like (``None``: until Ctrl-C).  0 when every exchange matched the exercise."""
    plan = plan_of(exercise)
    kind = "UDP" if plan.datagrams else "TCP"
    try:
        listener = _listener(bind, port, plan.datagrams)
    except OSError as exc:
        print("Cannot start the partner server: " + bind_problem(exc, bind, port), file=out)
        return DIFFERENT
    say = _printer(out)
    try:
        port = listener.getsockname()[1]
        say("Partner server for %s, the reference server, on %s port %d."
            % (exercise.name, kind, port))
        if bind in ("", "0.0.0.0", "::"):
            addresses = local_addresses()
            if addresses:
                say("Your partner's client can reach it at: %s" % ", ".join(addresses))
            else:
                say("This computer seems to have no network address besides itself (no network?).")
            say("On this computer itself: 127.0.0.1 (localhost).")
        else:
            say("Listening only at %s, as asked." % bind)
        say("Your partner runs their client with this address and port %d, e.g.: python client.py %s %d"
            % (port, (local_addresses() or ["127.0.0.1"])[0] if bind in ("", "0.0.0.0", "::") else bind, port))
        say("Waiting for %s... (Ctrl-C to stop)" % ("a request" if plan.datagrams else "a client"))
        results = []
        while count is None or len(results) < count:
            exchange = _serve_datagram if plan.datagrams else _serve_connection
            results.append(exchange(listener, exercise, plan, timeout, say))
            if count is None or len(results) < count:
                say("Waiting for the next %s... (Ctrl-C to stop)" % ("request" if plan.datagrams else "client"))
    except KeyboardInterrupt:
        say("Stopped (Ctrl-C).")
        return INTERRUPTED
    finally:
        listener.close()
    matched = sum(results)
    if len(results) > 1:
        say("%d of %d exchanges went as the exercise says." % (matched, len(results)))
    return MATCHED if matched == len(results) else DIFFERENT


def _printer(out: TextIO):
    def say(line: str) -> None:
        out.write(line + "\n")
        out.flush()
    return say


def _wait_readable(sock: socket.socket, seconds: Optional[float]) -> bool:
    """Wait for ``sock`` in short slices (Ctrl-C is seen at once, Windows too); False at the end
    of ``seconds`` (None: forever)."""
    import select

    deadline = None if seconds is None else time.monotonic() + seconds
    while True:
        slice_ = 0.25 if deadline is None else max(0.0, min(0.25, deadline - time.monotonic()))
        ready, _, _ = select.select([sock], [], [], slice_)
        if ready:
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False


def _serve_connection(listener: socket.socket, exercise: Exercise, plan: Plan, timeout: float, say) -> bool:
    _wait_readable(listener, None)
    conn, address = listener.accept()
    try:
        say("")
        say("A client connected from %s port %d." % address[:2])
        ok = True
        line = b""
        if plan.client_sends:
            line, ended = _read_line(conn, timeout)
            if line:
                say("The client sent %s." % _quoted(line))
            else:
                ok = False
                say("The client sent nothing%s: in this exercise the client sends a line first, "
                    "then waits for the reply." % {"eof": " and closed the connection",
                                                   "reset": " and reset the connection",
                                                   "timeout": " within %g seconds" % timeout}.get(ended, ""))
                return False
        reply = line if plan.server_echoes else exercise.message.encode()
        try:
            conn.sendall(reply)
            conn.shutdown(socket.SHUT_WR)  # then read to the end: closing now could reset
        except OSError as exc:
            say("Sending %s failed: %s (the client went away?)." % (_quoted(reply), _error_name(exc)))
            return False
        say("The partner server sent %s and closed its side." % _quoted(reply))
        extra, ended = _read_to_end(conn, timeout)
        if extra and not plan.client_sends:
            say("The client sent %s; in this exercise the client only receives." % _quoted(extra))
        elif extra:
            say("The client then sent %s more." % _quoted(extra))
        if ended == "eof":
            say("The client closed the connection. That is how the exchange should end.")
            say("Your partner's client should have printed: %s"
                % reply.decode("utf-8", "replace").strip())
        elif ended == "reset":
            ok = False
            say("The client reset the connection (it crashed, or closed it with data unread).")
        else:
            ok = False
            say("The client did not close the connection within %g seconds, so the partner server "
                "closed it. A client closes its socket once it has received the message." % timeout)
        return ok
    finally:
        conn.close()


def _read_line(conn: socket.socket, timeout: float) -> Tuple[bytes, str]:
    """The client's line: to its newline, the end of its stream, or a pause after some data
    (it waits for the reply).  And how the wait ended: "line", "eof", "reset", "timeout"."""
    got = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in got:
        wait = deadline - time.monotonic()
        if got:
            wait = min(wait, QUIET_AFTER_LINE)
        if wait <= 0 or not _wait_readable(conn, wait):
            return got, "line" if got else "timeout"
        try:
            data = conn.recv(4096)
        except OSError:
            return got, "reset"
        if not data:
            return got, "eof"
        got += data[:max(0, RECEIVE_LIMIT - len(got))]
    return got, "line"


def _read_to_end(conn: socket.socket, timeout: float) -> Tuple[bytes, str]:
    """What arrives until the other side closes: (the bytes, "eof" | "reset" | "timeout")."""
    got = b""
    deadline = time.monotonic() + timeout
    while True:
        wait = deadline - time.monotonic()
        if wait <= 0 or not _wait_readable(conn, wait):
            return got, "timeout"
        try:
            data = conn.recv(4096)
        except OSError:
            return got, "reset"
        if not data:
            return got, "eof"
        got += data[:max(0, RECEIVE_LIMIT - len(got))]


def _serve_datagram(sock: socket.socket, exercise: Exercise, plan: Plan, timeout: float, say) -> bool:
    _wait_readable(sock, None)
    try:
        request, address = sock.recvfrom(65535)
    except OSError as exc:  # Windows: an earlier reply's "port unreachable" surfaces here
        say("A datagram could not be received: %s." % _error_name(exc))
        return False
    say("")
    say("A request came from %s port %d: %s." % (address[0], address[1], _quoted(request)))
    reply = exercise.message.encode()
    try:
        sock.sendto(reply, address)
    except OSError as exc:
        say("Replying failed: %s." % _error_name(exc))
        return False
    say("The partner server replied %s to %s port %d." % (_quoted(reply), address[0], address[1]))
    say("Your partner's client should have printed: %s" % exercise.message)
    return True


# -- the partner client ------------------------------------------------------------------------

def connect_problem(exc: BaseException, host: str, port: int, timeout: float, datagrams: bool = False) -> str:
    """Why connecting to a partner's server failed, for a beginner."""
    if isinstance(exc, socket.gaierror):
        return ('the name "%s" was not found: check the spelling, or use your partner\'s IP '
                "address (their partner server prints it; or ipconfig on Windows, ip addr on "
                "Linux, System Settings > Network on a Mac)." % host)
    if isinstance(exc, ConnectionRefusedError) or isinstance(exc, ConnectionResetError) and datagrams:
        what = "bound to UDP" if datagrams else "listening on"
        return ("nothing is %s port %d at %s: is your partner's server running? Does it use the "
                "same port?" % (what, port, host))
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return ("no answer from %s within %g seconds: the address may be wrong (are you on the same "
                "network?) or a firewall blocks port %d (Windows asks to allow Python the first time "
                "a server runs)." % (host, timeout, port))
    if getattr(exc, "errno", None) in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return ("%s cannot be reached from this computer: are both computers on the same network?" % host)
    return "the connection failed: %s" % _error_name(exc)


def connect(exercise: Exercise, host: str, port: int, timeout: float = DEFAULT_TIMEOUT,
            out: TextIO = sys.stdout) -> int:
    """Play the exercise's reference client against the server at ``host``:``port``; say what
    happened.  0 when the server's reply is what the exercise expects and it ended properly."""
    plan = plan_of(exercise)
    say = _printer(out)
    try:
        return (_ask_datagram if plan.datagrams else _ask_connection)(exercise, plan, host, port, timeout, say)
    except KeyboardInterrupt:
        say("Stopped (Ctrl-C).")
        return INTERRUPTED


def _address(host: str, port: int, kind: int) -> Tuple[int, tuple]:
    """IPv4, as the handout's programs (``localhost`` is 127.0.0.1, not ::1), unless the host
    is written as an IPv6 address."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    family, _, _, _, address = socket.getaddrinfo(host, port, family, kind)[0]
    return family, address


def _ask_connection(exercise: Exercise, plan: Plan, host: str, port: int, timeout: float, say) -> int:
    say("Partner client for %s, the reference client: connecting to %s port %d..."
        % (exercise.name, host, port))
    try:
        family, address = _address(host, port, socket.SOCK_STREAM)
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        say("Cannot connect: " + connect_problem(exc, host, port, timeout))
        return DIFFERENT
    try:
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except OSError as exc:
            say("Cannot connect: " + connect_problem(exc, host, port, timeout))
            return DIFFERENT
        sock.settimeout(None)
        say("Connected to %s port %d (from %s port %d)." % (address[:2] + sock.getsockname()[:2]))
        expected = exercise.message.encode()
        if plan.client_sends:
            line = request_of(exercise)
            try:
                sock.sendall(line)
            except OSError as exc:
                say("Sending %s failed: %s." % (_quoted(line), _error_name(exc)))
                return DIFFERENT
            say("The partner client sent %s." % _quoted(line))
            if plan.server_echoes:
                expected = line
        got, ended = _read_to_end(sock, timeout)
        if got:
            say("It received %s." % _quoted(got))
        else:
            say("It received nothing.")
        matched = got == expected
        if not matched:
            say("The exercise expects %s: %s." % (_quoted(expected), how_different(expected, got)))
        if ended == "eof":
            say("The server closed the connection.")
        elif ended == "reset":
            say("The server reset the connection (it crashed, or closed it with data unread).")
        else:
            say("The server did not close the connection within %g seconds. After sending, the "
                "server closes the connection: that is how the client knows the message is whole."
                % timeout)
        ok = matched and ended == "eof"
        say("That is the exchange the exercise expects." if ok else "That is not the exchange the exercise expects.")
        return MATCHED if ok else DIFFERENT
    finally:
        sock.close()


def _ask_datagram(exercise: Exercise, plan: Plan, host: str, port: int, timeout: float, say) -> int:
    say("Partner client for %s, the reference client: sending a request to %s UDP port %d..."
        % (exercise.name, host, port))
    request = request_of(exercise)
    try:
        family, address = _address(host, port, socket.SOCK_DGRAM)
        sock = socket.socket(family, socket.SOCK_DGRAM)
    except OSError as exc:
        say("Cannot send: " + connect_problem(exc, host, port, timeout, datagrams=True))
        return DIFFERENT
    try:
        try:
            # Connected, so the system reports "nothing bound there" (an ICMP port unreachable)
            # as an error instead of silence; replies from that address still arrive.
            sock.connect(address)
            sock.send(request)
        except OSError as exc:
            say("Cannot send: " + connect_problem(exc, host, port, timeout, datagrams=True))
            return DIFFERENT
        say("The partner client sent %s." % _quoted(request))
        try:
            if not _wait_readable(sock, timeout):
                say("No reply within %g seconds: is your partner's server running, and bound to UDP "
                    "port %d? UDP does not say when nobody listens; a firewall may also drop the "
                    "datagrams." % (timeout, port))
                return DIFFERENT
            reply = sock.recv(65535)
        except OSError as exc:
            say("No reply: " + connect_problem(exc, host, port, timeout, datagrams=True))
            return DIFFERENT
        say("It received %s." % _quoted(reply))
        expected = exercise.message.encode()
        if reply != expected:
            say("The exercise expects %s: %s." % (_quoted(expected), how_different(expected, reply)))
            say("That is not the exchange the exercise expects.")
            return DIFFERENT
        say("That is the exchange the exercise expects.")
        return MATCHED
    finally:
        sock.close()
