"""Runs inside the student's Python process, then runs the student's file as ``__main__``.

Started as ``python -u bootstrap.py STUDENT_FILE``.  Before the student's code runs it

* records one ordered event log (socket calls, console writes, the end of the program) and
  streams it to the grader as JSON lines over an inherited pipe (written by ``_json``: the json
  module and the regular expressions it loads would cost every program more than its own run);
* puts the program on a *virtual lab network*: a server's ``bind`` goes to a loopback ephemeral
  port whatever it asked for, a client's ``connect`` goes to the grader's reference server, and
  the requested addresses are recorded for the report.  Hard-coded ports therefore never collide
  and a partner's IP, ``gethostname()`` or ``localhost`` all reach the counterpart;
* when the program's code is done, reports ``finished`` and *holds* the process (its sockets
  still open) until the grader releases it.  That makes "closed by the program" versus "closed
  because the process ended" a question the reference counterpart can answer without racing.

This file is stdlib-only and imports nothing from the grader package: it runs in the student's
interpreter with the student's ``sys.path``.  It is trusted for ordering and diagnostics only; the
grades that matter rest on what the reference counterpart observed and what the kernel shows.

The program shares this interpreter and can reach everything here, so the probe makes forging
its word *detectable*, not impossible: every event line carries a per-run key the grader sent
over the control pipe (a line written into the channel by other code lacks it), and ``emit``
accepts only calls that enter the probe through one of its hooks (a direct call from the
program's code becomes a ``tamper`` event).  The grader treats both as interference.
"""
import builtins
import errno
import os
import sys
import threading
import time
import types
import weakref

import socket as _socket_module
from importlib.machinery import SourceFileLoader as _SourceFileLoader

_REAL = {}  # original socket.socket methods, by name
_LOCK = threading.RLock()
_SEQ = [0]
_MAIN_PID = os.getpid()
_DATA_LIMIT = 4096  # bytes of payload kept per send/recv event
_DATA_BUDGET = [1 << 20]  # payload bytes recorded in all; past it only sizes are reported
_OUTPUT_EVENT_BUDGET = [1 << 20]  # console text recorded in events, in characters
_TEXT_PIECE = 1 << 16  # characters of console text per event (at most ~400 KiB of JSON)
# A program calling recv() in a tight loop must not flood the grader: after this many events
# only the end of the program is still reported.
_EVENT_BUDGET = [20000]
_ALWAYS_SENT = ("finished", "exception", "syntax_error", "hello", "tamper")
# Longest exception message and traceback put into an event; the console still gets them whole.
_MESSAGE_LIMIT = 2000
_TRACEBACK_LIMIT = 16000
_ids = weakref.WeakKeyDictionary()
_next_id = [0]
_config = {}
_event_fd = [-1]
_control_fd = [-1]
_LINE_START = [b"{"]  # '{"k": "<key>", ' once the grader's configuration has arrived
_PUBLIC = set()  # code objects of the probe's functions that the program may call (its hooks)
_GLOBALS = globals()
_getframe = sys._getframe
_MODULE_CODE = _getframe(0).f_code  # the bottom of the probe's own calls (main, at start-up)


# ---------------------------------------------------------------------------------------------
# The event channel
# ---------------------------------------------------------------------------------------------

def emit(kind, **fields):
    """Append one event to the log.  Never raises: a closed channel only loses events.

    A call that did not come through one of the probe's hooks (the program calling this
    function, or a probe-internal one, itself) is reported as a ``tamper`` event instead."""
    if not _entered_through_hook():
        fields, kind = {"claimed": str(kind)[:40]}, "tamper"
    with _LOCK:
        if _EVENT_BUDGET[0] <= 0 and kind not in _ALWAYS_SENT:
            return
        _EVENT_BUDGET[0] -= 1
        if _EVENT_BUDGET[0] == 0:
            fields = {"dropped_kind": kind}
            kind = "events_truncated"
        _SEQ[0] += 1
        fields["seq"] = _SEQ[0]
        fields["kind"] = kind
        fields["t"] = time.monotonic()
        fields["pid"] = os.getpid()
        line = _LINE_START[0] + (_json(fields)[1:] + "\n").encode("utf-8", "surrogatepass")
        try:
            view = memoryview(line)
            while view:
                written = os.write(_event_fd[0], view)
                view = view[written:]
        except OSError:
            pass


def _entered_through_hook():
    """Whether the run of probe frames that called ``emit`` starts at one of the hooks (or at
    the probe's own main, with no program frame below it)."""
    try:
        frame = _getframe(2)
    except ValueError:  # called straight from C at the bottom of a thread the program started
        return False
    outermost = None
    while frame is not None and frame.f_globals is _GLOBALS:
        outermost = frame.f_code
        frame = frame.f_back
    # A hook may be called straight from C (print in a thread of _thread.start_new_thread), so
    # the bottom of the stack is fine below a hook; below anything else only for main's calls.
    return outermost in _PUBLIC or (frame is None and outermost is _MODULE_CODE)


def _public(function):
    """Mark a probe function as one the program may call (a hook)."""
    _PUBLIC.add(function.__code__)
    return function


_CONTROL_ESCAPES = {code: "\\u%04x" % code for code in range(32)}
_INFINITY = float("inf")


def _json_string(text):
    text = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r") \
        .replace("\t", "\\t")
    if not text.isprintable():  # other control characters (rare; the slow path finds them all)
        text = text.translate(_CONTROL_ESCAPES)
    return '"' + text + '"'


def _json(value):
    """``value`` as JSON: the dicts, lists, strings, numbers, booleans and None of an event.
    Text is written as UTF-8 (lone surrogates too, which the grader's json.loads accepts)."""
    if isinstance(value, str):
        return _json_string(value)
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (_INFINITY, -_INFINITY):
            return "Infinity" if value > 0 else "-Infinity"
        return float.__repr__(value)
    if isinstance(value, dict):
        return "{" + ", ".join("%s: %s" % (_json_string(str(k)), _json(v)) for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_json(item) for item in value) + "]"
    return _json_string(str(value))


def _parse_config(line):
    """The grader's configuration line: ``name=value`` pairs, each value the hex of its UTF-8
    text (a path may hold any character, and there is nothing to escape)."""
    config = {}
    for pair in (line or "").split():
        name, _, value = pair.partition("=")
        try:
            config[name] = bytes.fromhex(value).decode("utf-8", "surrogatepass")
        except ValueError:
            continue
    return config


def _read_control_line(timeout):
    """One line from the grader (blocking up to ``timeout``), or None at end of stream."""
    fd = _control_fd[0]
    chunks = []
    deadline = time.monotonic() + timeout
    while True:
        if os.name != "nt":
            import select
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            # poll(), not select(): in a batch the grader has many files open and this pipe
            # keeps its number, which can be past select()'s limit of 1023.
            waiter = select.poll()
            waiter.register(fd, select.POLLIN)
            try:
                ready = waiter.poll(remaining * 1000)
            except OSError:
                return None
            if not ready:
                return None
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return None
        if not chunk:
            return None
        chunks.append(chunk)
        if b"\n" in chunk:
            return b"".join(chunks).split(b"\n", 1)[0].decode("utf-8", "replace")


def _open_channel():
    # Out of the program's sight: it has no use for it (a forged line lacks the key anyway).
    event, control = (int(n) for n in os.environ.pop("GRADER_PROBE").split())
    if os.name == "nt":  # handles were inherited; turn them back into file descriptors
        import msvcrt
        _event_fd[0] = msvcrt.open_osfhandle(event, os.O_WRONLY)
        _control_fd[0] = msvcrt.open_osfhandle(control, os.O_RDONLY)
    else:
        _event_fd[0] = event
        _control_fd[0] = control
    for fd in (_event_fd[0], _control_fd[0]):
        try:
            os.set_inheritable(fd, False)  # programs the student starts do not get the channel
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------
# Socket hooks
# ---------------------------------------------------------------------------------------------

def _sock_id(sock):
    try:
        return _ids[sock]
    except KeyError:
        with _LOCK:
            _next_id[0] += 1
            _ids[sock] = _next_id[0]
            return _next_id[0]


def _is_inet(sock):
    try:
        return sock.family in (_socket_module.AF_INET, _socket_module.AF_INET6)
    except OSError:
        return False


def _is_inet_stream(sock):
    try:
        return _is_inet(sock) and sock.type == _socket_module.SOCK_STREAM
    except OSError:
        return False


def _is_inet_dgram(sock):
    try:
        return _is_inet(sock) and sock.type == _socket_module.SOCK_DGRAM
    except OSError:
        return False


def _addr(address):
    """An address as JSON: [host, port] for IP sockets, else its repr."""
    if isinstance(address, tuple) and len(address) >= 2:
        host = address[0]
        if isinstance(host, bytes):
            host = host.decode("latin-1")
        return [str(host), address[1] if isinstance(address[1], int) else str(address[1])]
    return repr(address)


def _sockname(sock):
    try:
        return _addr(sock.getsockname())
    except OSError:
        return None


def _data(buf):
    with _LOCK:
        data = bytes(buf[:min(_DATA_LIMIT, _DATA_BUDGET[0])])
        _DATA_BUDGET[0] -= len(data)
    return data.decode("latin-1")


def _blocking_info(sock):
    try:
        timeout = sock.gettimeout()
    except OSError:
        timeout = None
    return {"timeout": timeout, "threads": threading.active_count()}


def _error_fields(exc):
    return {"error": type(exc).__name__, "message": str(exc),
            "errno": getattr(exc, "errno", None)}


def _validate_ip_address(sock, address, function, before=()):
    """Raise what the real call would for a malformed address, before we replace it: routing
    must not fix a student's bug such as a port given as a string.  The real method parses it,
    in Python's own words, on a closed socket of the same family (its system call can only fail),
    with a host name replaced by a loopback literal (looking names up is not this check's job)."""
    parsed = address
    if isinstance(address, tuple) and address and isinstance(address[0], (str, bytes, bytearray)):
        parsed = (_loopback_for(sock),) + address[1:]
    closed = _socket_module._socket.socket(sock.family, sock.type)  # not hooked: no event
    closed.close()
    try:
        _REAL[function].__get__(closed)(*before, parsed)  # before: sendto's data and flags
    except OSError:  # EBADF: the address itself was fine
        pass


def _loopback_for(sock):
    return "::1" if sock.family == _socket_module.AF_INET6 else "127.0.0.1"


def _type(sock):
    try:
        return int(sock.type)
    except (OSError, ValueError, TypeError):
        return -1


def _bind_loopback(sock):
    """Bind to a loopback ephemeral port.  An IPv6 datagram socket takes the IPv4-mapped
    loopback where it can: a datagram has no connection to carry it between the families, and
    the grader's datagram counterparts are IPv4 (a socket set IPV6_V6ONLY gets ::1)."""
    if sock.family == _socket_module.AF_INET6 and _is_inet_dgram(sock):
        try:
            return _REAL["bind"](sock, ("::ffff:127.0.0.1", 0))
        except OSError:
            pass
    return _REAL["bind"](sock, (_loopback_for(sock), 0))


def _bind_unbound(sock):
    """Before a routed datagram leaves an unbound socket: bind it to loopback, where the kernel
    would bind it to every interface (the virtual lab network keeps the program off the real
    ones, as its bind() does)."""
    try:
        if sock.getsockname()[1] == 0:
            _bind_loopback(sock)
    except (OSError, IndexError, TypeError):
        pass


def _datagram_route(sock, address):
    """Where a datagram (or a datagram socket's connect) addressed to ``address`` goes on the
    virtual lab network: to the port the grader named (``udp_host``/``udp_port``), except that
    the port ``udp_keep_port`` (the reference client's own, which a server replies to) keeps its
    port, and with ``udp_keep_senders`` (a pair run) an address a datagram came from keeps its
    address.  Without that configuration (a TCP grading) it goes where it was addressed."""
    port = _config.get("udp_port")
    if not port or not (isinstance(address, tuple) and len(address) >= 2):
        return address
    if _config.get("udp_keep_senders") and _sender_key(address) in _SENDERS:
        return address  # a reply to an address a datagram came from (a pair's client)
    host, port = _config.get("udp_host", "127.0.0.1"), int(port)
    keep = _config.get("udp_keep_port")
    if keep and address[1] == int(keep):
        port = int(keep)
    if sock.family == _socket_module.AF_INET6 and ":" not in host:
        host = "::ffff:" + host
    return (host, port)


_SENDERS = set()  # (host, port) of every datagram the program received (recvfrom)


def _sender_key(address):
    host = address[0].decode("latin-1") if isinstance(address[0], bytes) else str(address[0])
    return host, address[1]


def _hook(name):
    def decorator(wrapper):
        _REAL[name] = getattr(_socket_module.socket, name)
        wrapper.__name__ = name
        wrapper.__qualname__ = "socket." + name
        wrapper.__doc__ = _REAL[name].__doc__
        _public(wrapper)
        setattr(_socket_module.socket, name, wrapper)
        return wrapper
    return decorator


def _shape(args, kwargs, least, most):
    """Whether a call's arguments have the shape the real method takes (positional only, from
    ``least`` to ``most``).  A call of another shape is handed to the real method as it is, so
    that Python raises its own error, with its own message."""
    return not kwargs and least <= len(args) <= most


def _real(sock, name):
    """The real method, bound: called so, it words its errors as the program's call would
    (``send() takes no keyword arguments``, not ``socket.send() ...``)."""
    return _REAL[name].__get__(sock, type(sock))


def install_socket_hooks():
    sock_cls = _socket_module.socket
    emit = _GLOBALS["emit"]  # a closure variable of every hook, not a global the program can swap

    @_hook("__init__")
    def __init__(self, *args, **kwargs):
        _real(self, "__init__")(*args, **kwargs)
        if (args[3] if len(args) > 3 else kwargs.get("fileno")) is None:
            emit("socket", sock=_sock_id(self), family=int(self.family), type=int(self.type))

    @_hook("bind")
    def bind(self, *args, **kwargs):
        # Every IP socket is virtualised (UDP too): a real fixed port would collide between
        # gradings running at the same time.
        if not _is_inet(self):
            return _real(self, "bind")(*args, **kwargs)
        address = args[0] if args else None
        fields = {"sock": _sock_id(self), "requested": _addr(address), "type": _type(self)}
        try:
            if not _shape(args, kwargs, 1, 1):
                return _real(self, "bind")(*args, **kwargs)  # raises Python's own error
            _validate_ip_address(self, address, "bind")
            _bind_loopback(self)
        except Exception as exc:
            emit("bind", ok=False, **fields, **_error_fields(exc))
            raise
        emit("bind", ok=True, address=_sockname(self), **fields)

    @_hook("listen")
    def listen(self, *args, **kwargs):
        try:
            _real(self, "listen")(*args, **kwargs)
        except Exception as exc:
            emit("listen", ok=False, sock=_sock_id(self), **_error_fields(exc))
            raise
        emit("listen", ok=True, sock=_sock_id(self), address=_sockname(self),
             backlog=args[0] if args else None)

    @_hook("accept")
    def accept(self, *args, **kwargs):
        sid = _sock_id(self)
        emit("accept_call", sock=sid, **_blocking_info(self))
        try:
            conn, address = _real(self, "accept")(*args, **kwargs)
        except Exception as exc:
            emit("accept_return", ok=False, sock=sid, **_error_fields(exc))
            raise
        emit("accept_return", ok=True, sock=sid, conn=_sock_id(conn), peer=_addr(address),
             local=_sockname(conn))
        return conn, address

    def _connect(self, real_name, args, kwargs):
        if _is_inet_dgram(self):
            return _datagram_connect(self, real_name, args, kwargs)
        sid = _sock_id(self)
        address = args[0] if args else None
        fields = {"sock": sid, "requested": _addr(address), "via": real_name}
        well_formed = _shape(args, kwargs, 1, 1)
        target = address
        if well_formed and _is_inet_stream(self) and _config.get("connect_port"):
            host, port = _config["connect_host"], int(_config["connect_port"])
            if self.family == _socket_module.AF_INET6:
                host = "::ffff:" + host if ":" not in host else host
            target = (host, port)
        _settle(self)
        emit("connect_call", **fields)
        try:
            if not well_formed:
                result = _real(self, real_name)(*args, **kwargs)  # raises Python's own error
            else:
                if target is not address:
                    _validate_ip_address(self, address, real_name)
                result = _real(self, real_name)(target)
        except Exception as exc:
            if isinstance(exc, OSError) and exc.errno in _IN_PROGRESS:
                _started(self, fields, exc.errno, type(exc).__name__, str(exc))
            else:
                emit("connect_return", ok=False, **fields, **_error_fields(exc))
            raise
        if real_name == "connect_ex" and result in _IN_PROGRESS:
            _started(self, fields, result, "OSError", os.strerror(result))
        elif real_name == "connect_ex" and result != 0:
            emit("connect_return", ok=False, error="OSError", errno=result,
                 message=os.strerror(result), **fields)
        else:
            emit("connect_return", ok=True, local=_sockname(self), **fields)
        return result

    def _started(self, fields, errno, error, message):
        """A non-blocking connect that is under way (EINPROGRESS): reported as connected as soon
        as it is (on loopback, within moments), else as pending, and settled at the socket's
        next call.  The program still gets the real call's result."""
        if _connected_soon(self):
            emit("connect_return", ok=True, local=_sockname(self), **fields)
            return
        emit("connect_return", ok=False, local=_sockname(self), error=error, errno=errno,
             message=message, **fields)
        _PENDING[self] = fields

    def _datagram_connect(self, real_name, args, kwargs):
        """A datagram socket's connect: it only sets where send() goes (no handshake), routed
        like sendto()."""
        address = args[0] if args else None
        fields = {"sock": _sock_id(self), "requested": _addr(address), "via": real_name}
        well_formed = _shape(args, kwargs, 1, 1)
        target = _datagram_route(self, address) if well_formed else address
        try:
            if not well_formed:
                result = _real(self, real_name)(*args, **kwargs)  # raises Python's own error
            else:
                if target is not address:
                    _validate_ip_address(self, address, real_name)
                    _bind_unbound(self)
                result = _real(self, real_name)(target)
        except Exception as exc:
            emit("datagram_connect", ok=False, **fields, **_error_fields(exc))
            raise
        if real_name == "connect_ex" and result != 0:
            emit("datagram_connect", ok=False, error="OSError", errno=result,
                 message=os.strerror(result), **fields)
        else:
            emit("datagram_connect", ok=True, to=_addr(target), local=_sockname(self), **fields)
        return result

    @_hook("connect")
    def connect(self, *args, **kwargs):
        return _connect(self, "connect", args, kwargs)

    @_hook("connect_ex")
    def connect_ex(self, *args, **kwargs):
        return _connect(self, "connect_ex", args, kwargs)

    def _sender(name):
        @_hook(name)
        def send(self, *args, **kwargs):
            if _is_inet_dgram(self):
                return _datagram_send(self, name, args, kwargs)
            sid = _sock_id(self)
            _settle(self)
            data = args[0] if args else kwargs.get("data")
            try:
                result = _real(self, name)(*args, **kwargs)
            except Exception as exc:
                emit("send", ok=False, sock=sid, via=name, data_type=type(data).__name__,
                     **_error_fields(exc))
                raise
            sent = len(memoryview(data)) if name == "sendall" else result
            emit("send", ok=True, sock=sid, via=name, data=_data(memoryview(data)[:sent]),
                 size=sent)
            return result

    def _datagram_send(self, name, args, kwargs):
        """send/sendall/sendto on a datagram socket: one datagram, routed on the virtual lab
        network; the event says where the program addressed it and where it went."""
        data = args[0] if args else kwargs.get("data")
        address = args[-1] if name == "sendto" and _shape(args, kwargs, 2, 3) else None
        fields = {"sock": _sock_id(self), "via": name, "requested": None if address is None else _addr(address)}
        target = None if address is None else _datagram_route(self, address)
        try:
            if target is None:  # on a connected socket (or a malformed call: Python's own error)
                result = _real(self, name)(*args, **kwargs)
            else:
                if target is not address:
                    _validate_ip_address(self, address, name, before=args[:-1])
                    _bind_unbound(self)
                result = _real(self, name)(*(args[:-1] + (target,)))
        except Exception as exc:
            emit("datagram_send", ok=False, data_type=type(data).__name__, **fields, **_error_fields(exc))
            raise
        sent = len(memoryview(data)) if name == "sendall" else result
        went = target if target is not None else _peername(self)
        emit("datagram_send", ok=True, data=_data(memoryview(data)[:sent]), size=sent,
             to=None if went is None else _addr(went), local=_sockname(self), **fields)
        return result

    _sender("send")
    _sender("sendall")
    _sender("sendto")  # works on a connected TCP socket too; beginners sometimes use it

    def _receiver(name):
        @_hook(name)
        def recv(self, *args, **kwargs):
            sid = _sock_id(self)
            _settle(self)
            into = name.endswith("_into")
            bufsize = args[1] if into and len(args) > 1 else \
                (args[0] if not into and args else kwargs.get("bufsize", kwargs.get("nbytes")))
            # A datagram socket's calls are their own kinds (the checks tell them apart by kind),
            # with the socket's address and, from recvfrom, the sender's.
            dgram = _is_inet_dgram(self)
            call_kind, return_kind = ("datagram_recv_call", "datagram_recv_return") if dgram \
                else ("recv_call", "recv_return")
            where = {"local": _sockname(self)} if dgram else {}
            if dgram and into and not bufsize:  # nbytes 0 or left out: the buffer's whole size
                try:
                    bufsize = memoryview(args[0] if args else kwargs.get("buffer")).nbytes
                except TypeError:
                    pass
            emit(call_kind, sock=sid, via=name, bufsize=bufsize if isinstance(bufsize, int) else None,
                 **where, **_blocking_info(self))
            try:
                result = _real(self, name)(*args, **kwargs)
            except Exception as exc:
                emit(return_kind, ok=False, sock=sid, via=name, **_error_fields(exc))
                raise
            if name in ("recv_into", "recvfrom_into"):
                buffer = args[0] if args else kwargs.get("buffer")
                size = result if name == "recv_into" else result[0]
                try:
                    data = bytes(memoryview(buffer).cast("B")[:size])
                except (TypeError, ValueError):  # a buffer of another shape: its size only
                    data = b"\0" * size
            elif name == "recvfrom":
                data = result[0]
            else:
                data = result
            if dgram:
                sender = result[1] if name.startswith("recvfrom") else _peername(self)
                if sender is not None and isinstance(sender, tuple) and len(sender) >= 2:
                    _SENDERS.add(_sender_key(sender))
                where = {"peer": None if sender is None else _addr(sender)}
            emit(return_kind, ok=True, sock=sid, via=name, data=_data(data), size=len(data), **where)
            return result

    for name in ("recv", "recv_into", "recvfrom", "recvfrom_into"):
        _receiver(name)

    @_hook("shutdown")
    def shutdown(self, *args, **kwargs):
        sid = _sock_id(self)
        _settle(self)
        how = args[0] if args else None
        try:
            _real(self, "shutdown")(*args, **kwargs)
        except Exception as exc:
            emit("shutdown", ok=False, sock=sid, how=how, **_error_fields(exc))
            raise
        emit("shutdown", ok=True, sock=sid, how=how)

    @_hook("close")
    def close(self, *args, **kwargs):
        if args or kwargs:  # not a close: Python says so
            return _real(self, "close")(*args, **kwargs)
        _settle(self)
        if not self._closed:
            emit("close", sock=_sock_id(self), via=_closing_via.get(id(self), "close"))
        return _REAL["close"](self)

    _closing_via = {}

    @_hook("__exit__")
    def __exit__(self, *exc_info):
        _closing_via[id(self)] = "with"
        try:
            return _REAL["__exit__"](self, *exc_info)
        finally:
            _closing_via.pop(id(self), None)

    @_hook("settimeout")
    def settimeout(self, *args, **kwargs):
        _real(self, "settimeout")(*args, **kwargs)
        emit("settimeout", sock=_sock_id(self), timeout=self.gettimeout())

    @_hook("setblocking")
    def setblocking(self, *args, **kwargs):
        _real(self, "setblocking")(*args, **kwargs)
        emit("settimeout", sock=_sock_id(self), timeout=self.gettimeout())

    return sock_cls


# What a non-blocking connect says while it is under way (Windows: WSAEWOULDBLOCK).
_IN_PROGRESS = {getattr(errno, name) for name in ("EINPROGRESS", "EALREADY", "EWOULDBLOCK", "EAGAIN",
                                                  "WSAEWOULDBLOCK") if hasattr(errno, name)}
_CONNECT_GRACE = 0.25  # seconds a non-blocking connect is given to complete before "pending"


_PENDING = weakref.WeakKeyDictionary()  # socket -> the fields of its connect under way


def _settle(sock, emit=emit):
    """Report a pending connect that has completed since (its peer is known).  Called by the
    socket's next hook, and for every socket left at the end of the program."""
    fields = _PENDING.pop(sock, None)
    if fields is not None and _peername(sock) is not None:
        emit("connect_return", ok=True, local=_sockname(sock), **fields)


def _peername(sock):
    try:
        return sock.getpeername()
    except OSError:
        return None


def _connected_soon(sock):
    """Whether a connect under way completes within the grace period.  Waiting for the socket to
    become writable neither changes it nor reads its pending error (the program may)."""
    import select

    try:
        if hasattr(select, "poll"):
            waiter = select.poll()
            waiter.register(sock.fileno(), select.POLLOUT)
            waiter.poll(_CONNECT_GRACE * 1000)
        else:
            select.select([], [sock], [sock], _CONNECT_GRACE)
    except (OSError, ValueError):
        return False
    return _peername(sock) is not None


# ---------------------------------------------------------------------------------------------
# Console hooks
# ---------------------------------------------------------------------------------------------

class _RecordingStream(object):
    """Forwards to the real stream and records what was written, in the event order."""

    def __init__(self, inner, kind):
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_kind", kind)

    @_public
    def write(self, text):
        # Written and recorded under one lock: threads' lines reach the console and the log in
        # the same order (the grader compares the two).
        with _LOCK:
            result = self._inner.write(text)
            if isinstance(text, str) and text and _OUTPUT_EVENT_BUDGET[0] > 0:
                kept = text[:_OUTPUT_EVENT_BUDGET[0]]
                _OUTPUT_EVENT_BUDGET[0] -= len(kept)
                for start in range(0, len(kept), _TEXT_PIECE):  # keeps every event line small
                    emit(self._kind, text=kept[start:start + _TEXT_PIECE])
        return result

    @_public
    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def __setattr__(self, name, value):
        setattr(self._inner, name, value)

    def __iter__(self):
        return iter(self._inner)


# ---------------------------------------------------------------------------------------------
# Running the student's file
# ---------------------------------------------------------------------------------------------

def _apply_limits(limits):
    """Resource limits the grader asked for (POSIX only), set before the student's code runs.

    Soft and hard limits are both lowered, so the program cannot raise them again.  The CPU
    limit keeps one second between SIGXCPU (soft) and SIGKILL (hard).
    """
    try:
        import resource
    except ImportError:
        return
    names = {"memory": "RLIMIT_AS", "file_size": "RLIMIT_FSIZE", "cpu": "RLIMIT_CPU"}
    for key, value in (limits or {}).items():
        rlimit = getattr(resource, names.get(key, ""), None)
        if rlimit is None or value is None:
            continue
        try:
            _, hard = resource.getrlimit(rlimit)
            soft = int(value)
            new_hard = soft + 1 if key == "cpu" else soft
            if hard != resource.RLIM_INFINITY:
                soft, new_hard = min(soft, hard), min(new_hard, hard)
            resource.setrlimit(rlimit, (soft, new_hard))
        except (ValueError, OSError):
            pass


def _student_traceback(exc, path):
    """The traceback as Python would print it, trimmed to frames in the student's file."""
    import traceback  # only when the program failed: most runs never need it

    tb = traceback.extract_tb(exc.__traceback__)
    frames = [f for f in tb if f.filename == path]
    lines = ["Traceback (most recent call last):\n"]
    lines.extend(traceback.format_list(frames))
    lines.extend(traceback.format_exception_only(type(exc), exc))
    lineno = frames[-1].lineno if frames else None
    return "".join(lines), lineno


def _join_other_threads():
    """Wait for the program's non-daemon threads, as the interpreter does before exiting."""
    current = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not current and not thread.daemon and thread.is_alive():
            thread.join()


def run_student(path, display_path, emit=emit):
    """Run the file as ``__main__``; returns (exit status, the module kept alive).

    The code is compiled under ``display_path`` (the student's own file, not our temporary
    copy), so tracebacks name the file the student knows.  (``emit`` is bound here, not looked
    up: a program that replaces the probe's global cannot silence its own end.)
    """
    try:
        with open(path, "rb") as handle:
            source = handle.read()
        code = _compile_like_python(source, display_path)
    except SyntaxError as exc:
        import traceback

        text = "".join(traceback.format_exception_only(type(exc), exc))
        sys.stderr.write(text)
        emit("syntax_error", error=type(exc).__name__, message=str(exc.msg), lineno=exc.lineno,
             offset=exc.offset, text=(exc.text or "").rstrip("\n"), traceback=text)
        return 1, None
    except (ValueError, MemoryError, RecursionError) as exc:
        # Source Python cannot compile at all: null bytes (ValueError), or an expression too
        # long or deep for its parser (MemoryError, RecursionError).  Said as Python says it.
        message = str(exc)
        text = "%s: %s\n" % (type(exc).__name__, message) if message else type(exc).__name__ + "\n"
        sys.stderr.write(text)
        emit("syntax_error", error=type(exc).__name__, message=message, lineno=None,
             offset=None, text="", traceback=text)
        return 1, None

    module = types.ModuleType("__main__")
    module.__file__ = path
    # As ``python3 FILE`` sets it.  Reading our copy, it also gives tracebacks their source
    # lines where the student's own path cannot be read (the sandbox): linecache asks it then.
    module.__loader__ = _SourceFileLoader("__main__", path)
    module.__builtins__ = builtins
    module.__cached__ = None
    sys.modules["__main__"] = module
    sys.argv[:] = [path] + sys.argv[2:]
    sys.path[0] = os.path.dirname(path)
    emit("start", file=path)
    status = 0
    try:
        exec(code, module.__dict__)
    except SystemExit as exc:
        status = _exit_status(exc.code)
    except BaseException as exc:  # the student's uncaught exception, KeyboardInterrupt included
        # Reported at once, as Python prints it before waiting for the program's other threads.
        status = 1
        _report_exception(exc, display_path, emit)
        # Keep the frames (and with them the program's sockets) alive while held.
        module.__dict__.setdefault("__grader_exception__", exc)
    _join_other_threads()
    return status, module


def _compile_like_python(source, filename):
    """``compile()`` as ``python3 FILE`` compiles the file.

    compile() of bytes and the interpreter's file reader differ: without an encoding declared,
    the reader refuses any byte that is not UTF-8 (in a comment too, where compile() lets it
    pass), and it words an unknown encoding and null bytes (3.11+) its own way."""
    try:
        source.decode("utf-8")
    except UnicodeDecodeError as exc:
        if not source.startswith(b"\xef\xbb\xbf") and _declared_encoding(source) is None:
            # Said as the reader says it (3.10 counts the line one too far, as it does).
            line = source[:exc.start].count(b"\n") + 1 + (sys.version_info[:2] == (3, 10))
            raise SyntaxError(
                "Non-UTF-8 code starting with '\\x%02x' in file %s on line %d, but no encoding "
                "declared; see %s for details" % (source[exc.start], filename, line, _PEP_263))
    if b"\0" in source and sys.version_info < (3, 11):
        import re

        # Before 3.11 the reader ends a line at a null byte and loses the rest of it, newline
        # included (the next line is glued on).
        source = re.sub(rb"\0[^\n]*\n?", b"", source)
    try:
        return compile(source, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        message = str(exc.msg)
        if message.startswith("unknown encoding: "):
            raise SyntaxError("encoding problem: " + message[len("unknown encoding: "):])
        if message == "source code string cannot contain null bytes":  # 3.11 and later
            start = source.index(b"\0")
            line_start = source.rfind(b"\n", 0, start) + 1
            text = source[line_start:start].decode("utf-8", "replace")
            raise SyntaxError("source code cannot contain null bytes",
                              (filename, source.count(b"\n", 0, start) + 1, None, text))
        raise


_PEP_263 = "https://peps.python.org/pep-0263/" if sys.version_info >= (3, 11) \
    else "https://python.org/dev/peps/pep-0263/"


def _declared_encoding(source):
    """The encoding a coding cookie declares in the first two lines (PEP 263), or None."""
    import re  # only for files that are not UTF-8: most runs never need it

    lines = source.split(b"\n", 2)[:2]
    for number, line in enumerate(lines):
        found = re.match(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)", line)
        if found:
            return found.group(1).decode("latin-1")
        if number == 0 and not re.match(rb"^[ \t\f]*(?:[#\r]|$)", line):
            return None  # the second line counts only below a blank or comment line
    return None


def _report_exception(exc, display_path, emit):
    """The ``exception`` event first, then the traceback on stderr.  Whatever the exception
    does (a ``__str__`` that raises, a message of megabytes, a patched ``traceback`` module),
    the event is sent, with what could be found out."""
    try:
        error = type(exc).__name__
    except BaseException:
        error = "Exception"
    try:
        message = str(exc)
    except BaseException:
        message = "<exception str() failed>"  # what Python itself prints then
    try:
        text, lineno = _student_traceback(exc, display_path)
    except BaseException:
        text, lineno = "%s: %s\n" % (error, message), None
    emit("exception", error=_clip(error, 200), message=_clip(message, _MESSAGE_LIMIT), lineno=lineno,
         traceback=_clip(text, _TRACEBACK_LIMIT))
    try:
        sys.stderr.write(text)
    except BaseException:
        pass


def _clip(text, limit):
    if not isinstance(text, str):
        return ""
    if len(text) <= limit:
        return text
    return text[:limit] + " ... (%d more characters)" % (len(text) - limit)


def _exit_status(code):
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    try:
        sys.stderr.write(str(code) + "\n")
    except Exception:
        pass
    return 1


def _site_without_hooks():
    """Do for the program what ``site`` does for a script, minus running the machine's hooks.

    The interpreter is started with -S: the environment's .pth files and sitecustomize are not
    executed (they belong to the machine, not to the student's program, and on some machines
    cost more than the whole run).  The site-packages folders still go on sys.path, in site's
    order, and exit(), quit(), help(), copyright, credits and license exist as usual.
    """
    import site

    site.venv(set())  # a virtual environment's prefix (before 3.11 only site finds it)
    if site.ENABLE_USER_SITE is None:
        site.ENABLE_USER_SITE = site.check_enableusersite()
    folders = [site.getusersitepackages()] if site.ENABLE_USER_SITE else []
    for folder in folders + site.getsitepackages():
        if os.path.isdir(folder) and folder not in sys.path:
            sys.path.append(folder)
    site.setquit()
    site.setcopyright()
    site.sethelper()


_REAL_EXIT = os._exit


def _finish_and_hold(status, emit=emit):
    """Report the end of the program's code, then hold until released, with the program's
    objects (and sockets) still alive."""
    for sock in list(_PENDING):
        _settle(sock)
    emit("finished", status=status)
    _read_control_line(timeout=float(_config.get("hold", 30.0)))


@_public
def _held_exit(status):
    """os._exit, but the main process is held first like a program that ends normally: else
    "closed the connection, then exited" would race against the exit itself."""
    if os.getpid() == _MAIN_PID:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:
            pass
        _finish_and_hold(status)
    _REAL_EXIT(status)


def main():
    if sys.flags.no_site:
        _site_without_hooks()
    path = os.path.abspath(sys.argv[1])
    _open_channel()
    emit("hello")
    _config.update(_parse_config(_read_control_line(timeout=30.0)))
    key = _config.pop("key", "")
    if key.isalnum():  # every line from here on starts with it (the grader checks)
        _LINE_START[0] = ('{"k": "%s", ' % key).encode()
    _apply_limits({name: _config.get(name) for name in ("memory", "file_size", "cpu")})
    install_socket_hooks()
    sys.stdout = _RecordingStream(sys.stdout, "stdout")
    sys.stderr = _RecordingStream(sys.stderr, "stderr")
    os._exit = _held_exit
    status, module = run_student(path, _config.get("display_path") or path)
    if os.getpid() != _MAIN_PID:  # a forked child of the program ended: just leave
        _REAL_EXIT(status)
    _finish_and_hold(status)
    del module
    _exit_like_python(status)


def _exit_like_python(status):
    """Exit as the interpreter would, as far as a program can tell: its atexit functions run
    and buffered output is written.  The teardown of every module and object is skipped: it
    takes longer than many a lab program runs, and the kernel closes the program's files and
    sockets the same either way."""
    try:
        import atexit

        atexit._run_exitfuncs()  # prints their errors, as at a normal exit
    except Exception:
        pass
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass
    try:
        _REAL_EXIT(status)
    except OverflowError:  # sys.exit(2 ** 100): the interpreter reports 255 for it
        _REAL_EXIT(255)


if __name__ == "__main__":
    main()
