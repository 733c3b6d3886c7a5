"""``--sandbox`` (Linux): the student's program in its own network, PID and mount namespaces.

This is the grader's side; ``grader/running/sandbox_init.py`` is the sandbox's own (a fork server, and
each program's init) and its docstring says how a sandboxed run is built.  Here:

* ``available()``: whether the sandbox works on this machine, in plain words when it does not;
* ``Sandbox``: one sandboxed run.  ``start`` asks the fork server for the program's process,
  ``new_socket`` makes the reference counterpart's sockets inside the program's network
  namespace, and the program's exit status and what it left running come from its init;
* ``ForkedProcess``: that process as the grader holds it, with what ``runner`` and
  ``processes.kill_tree`` use of a ``subprocess.Popen``;
* the fork server itself (``_fork_server``), started once per grader process, and again if it
  ever dies (the runs it held then fail with ``SandboxError``, a problem of the grader's side
  that a batch grades again, never a student's grade).
"""
from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import threading
from typing import Dict, List, Optional, Sequence, Tuple

from grader.running.environment import base_environment
from grader.running.limits import DISK_LIMIT, FILE_LIMIT
from grader.running.probe import compiled, probe_script
from grader.running.processes import spawning
from grader.running.sandbox_init import MAX_REQUEST, NOBODY, PIVOT_ROOT

INIT_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox_init.py")
_SETUP_TIMEOUT = 10.0  # seconds for the init to build the namespace (it takes milliseconds)

# What still holds when the sandbox is off or unavailable (docs/containment.md says more).
STILL_HOLDS = ("still in force: the time limit, CPU, memory and file-size limits, the output cap, "
               "a fresh temporary directory, closed input, and stopping every process the program "
               "started; not in force: the program can reach the network and read and write "
               "whatever your user can")
# Read-only in the program's view when they exist; plus the interpreter's prefixes and the probe.
_SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")


class SandboxError(RuntimeError):
    """The sandbox could not be set up: a problem of the machine, never of the program."""


# ---------------------------------------------------------------------------------------------
# Is it there?
# ---------------------------------------------------------------------------------------------

def available() -> Tuple[bool, str]:
    """(True, "") when ``--sandbox`` works here, else (False, why not, in plain words).

    Decided once per process by building a real sandbox around a trivial program, so that any
    refusal (no user namespaces, a container without CAP_SYS_ADMIN, ...) shows up here and not
    as a student's program that "did not start".
    """
    if not _AVAILABILITY:
        _AVAILABILITY.append(_try_sandbox())
    return _AVAILABILITY[0]


_AVAILABILITY: list = []  # the answer of available(), once known


def _try_sandbox() -> Tuple[bool, str]:
    import shutil

    from grader.running import tempdirs

    if not sys.platform.startswith("linux"):
        return False, "namespaces exist only on Linux"
    if os.uname().machine not in PIVOT_ROOT:
        return False, "this processor type (%s) is not supported" % os.uname().machine
    try:
        import ctypes  # noqa: F401  (the init needs it)
    except ImportError:
        return False, "this Python has no ctypes module"
    workdir = tempdirs.make("sandbox-check")
    try:
        sandbox = Sandbox(workdir)
        process = None
        try:
            process = sandbox.start([sys.executable, "-I", "-S", "-c", "import time; time.sleep(30)"],
                                    base_environment(), [])
            sandbox.started()
            with sandbox.new_socket(socket.AF_INET) as sock:  # loopback is up in there
                sock.bind(("127.0.0.1", 0))
                sock.listen(1)
        except (SandboxError, OSError) as exc:
            return False, str(exc)
        finally:
            if process is not None:
                process.kill()  # the namespace goes with its holder
                try:
                    process.wait(_SETUP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    pass
                process.stdout.close()
                process.stderr.close()
            sandbox.close()
        return True, ""
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def unavailable_message(reason: str) -> str:
    """The sentence a user reads when they asked for the sandbox and cannot have it."""
    return "the sandbox is not available here (%s), so grading runs without it; %s." % (reason, STILL_HOLDS)


# ---------------------------------------------------------------------------------------------
# One sandboxed run
# ---------------------------------------------------------------------------------------------

class Sandbox:
    """The grader's handle on one sandboxed run.

    ``start`` starts the program, ``started`` waits until its namespace is built,
    ``new_socket`` makes a socket inside the program's network namespace, ``program_status`` is
    the exit status of the program's own main process, ``close`` releases everything.
    """

    def __init__(self, workdir: str):
        from grader.running import tempdirs

        self.workdir = os.path.realpath(workdir)
        self.as_root = os.geteuid() == 0
        # An empty directory to mount the new root on; nothing is ever written into it.
        self._mount_point = tempdirs.make("root")
        self._grader_end, self._init_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._lock = threading.Lock()
        self._status: Optional[int] = None
        self._left_running = 0
        self._ended = False
        if self.as_root:
            # The program runs as nobody: its directory (and the copy of its file) must be its own.
            for base, dirs, files in os.walk(self.workdir):
                for name in [base] + [os.path.join(base, n) for n in dirs + files]:
                    os.chown(name, NOBODY, NOBODY)

    def start(self, argv: List[str], env: Dict[str, str], pass_fds: Sequence[int]) -> "ForkedProcess":
        """Start ``argv`` with ``env`` in the run's directory, in the sandbox, with stdin
        closed, stdout and stderr on pipes (the process's ``stdout``/``stderr``) and the
        descriptors ``pass_fds`` at the same numbers."""
        encode = os.fsencode
        read_only = _read_only_paths()
        ours, theirs = [], []
        try:
            for _ in ("stdout", "stderr"):
                reading, writing = os.pipe()
                ours.append(reading)
                theirs.append(writing)
            fds = theirs + [self._init_end.fileno()] + list(pass_fds)
            targets = [1, 2, self._init_end.fileno()] + list(pass_fds)
            server = _fork_server()
            request = ([b"root" if self.as_root else b"user", encode(self._mount_point), encode(self.workdir),
                        b"%d" % DISK_LIMIT, b"%d" % FILE_LIMIT, b"%d" % len(read_only)] + [encode(p) for p in read_only]
                       + [b"%d" % len(targets)] + [b"%d" % fd for fd in targets]
                       + _environment_change(server.environment, env) + [encode(a) for a in argv])
            process = server.spawn(request, fds)
        except BaseException:
            for fd in ours:
                os.close(fd)
            raise
        finally:
            for fd in theirs:
                os.close(fd)
        process.stdout, process.stderr = os.fdopen(ours[0], "rb"), os.fdopen(ours[1], "rb")
        return process

    def started(self) -> None:
        """Call right after ``start``: waits (bounded) until the namespace is built."""
        self._init_end.close()
        kind, text, _ = self._receive(_SETUP_TIMEOUT)
        if kind != "ready":
            raise SandboxError("the sandbox could not be set up: %s" % (text or "its setup did not answer"))

    def new_socket(self, family: int, kind: int = socket.SOCK_STREAM) -> socket.socket:
        """A TCP socket of ``family`` (a UDP one for ``kind`` SOCK_DGRAM) that lives in the
        program's network namespace (or, for ``family`` AF_NETLINK, a sock_diag socket there:
        ``grader.running.kernel``)."""
        request = {socket.AF_INET6: b"6", socket.AF_INET: b"4"}.get(family, b"d")
        if kind == socket.SOCK_DGRAM and request != b"d":
            request = b"u" + request
        with self._lock:
            try:
                self._grader_end.send(request)
            except OSError:
                raise OSError("the program's network namespace is gone") from None
            while True:
                kind, text, fds = self._receive(_SETUP_TIMEOUT)
                if kind == "socket" and fds:
                    return socket.socket(fileno=fds[0])
                if kind in ("error", "gone"):
                    raise OSError("no socket in the program's network namespace: %s" % text)

    def end(self) -> None:
        """Ask the init to end the program and everything it started (it first counts those:
        ``left_running``); the sandbox's process then ends."""
        try:
            self._grader_end.send(b"end")
        except OSError:
            pass  # the namespace is gone already

    def program_status(self) -> Optional[int]:
        """The program's exit status as its init saw it (negative: killed by that signal)."""
        return self._status

    def left_running(self) -> int:
        """Processes the program left running when its main process ended or the grader ended
        it (the kernel killed them)."""
        return self._left_running

    def collect(self, timeout: float = 1.0) -> None:
        """Read what the init said last (call once the process has ended)."""
        with self._lock:
            while not self._ended:
                if self._receive(timeout)[0] == "gone":
                    break

    def close(self) -> None:
        for end in (self._grader_end, self._init_end):
            end.close()
        try:
            os.rmdir(self._mount_point)
        except OSError:
            pass

    def _receive(self, timeout: float):
        """One message from the init: (kind, text, fds).  "exit" messages are recorded here."""
        if self._ended:
            return "gone", "the program has ended", []
        self._grader_end.settimeout(timeout)
        try:
            data, fds, _, _ = socket.recv_fds(self._grader_end, 4096, 4)
        except (OSError, ValueError):
            data, fds = b"", []
        if not data:
            self._ended = True
            return "gone", "the program has ended", []
        kind, _, text = data.decode("utf-8", "replace").partition(":")
        if kind == "exit":
            status, _, left = text.partition(":")
            self._status, self._left_running = int(status), int(left or 0)
            self._ended = True
            return "gone", "the program has ended", []
        return kind, text, fds


def _environment_change(base: Dict[str, str], env: Dict[str, str]) -> List[bytes]:
    """``env`` as changes to ``base`` (request fields: how many set, NAME=VALUE..., how many
    removed, NAME...): a request stays small however big the environment is."""
    encode = os.fsencode
    changed = [encode(k) + b"=" + encode(v) for k, v in env.items() if base.get(k) != v]
    removed = [encode(k) for k in base if k not in env]
    return [b"%d" % len(changed)] + changed + [b"%d" % len(removed)] + removed


class ForkedProcess:
    """A sandboxed program's process as the grader holds it: the fork server's *holder*
    (grader/running/sandbox_init.py), which ends when the program's namespace has ended.  It offers
    what ``runner`` and ``processes.kill_tree`` use of a ``subprocess.Popen``.

    Not the grader's child, so its end is known from the fork server, which reaps it, and it is
    killed through the fork server, which knows whether its PID is still its own.
    """

    def __init__(self, server: "_ForkServer", pid: int):
        self.pid = pid
        self.stdout = self.stderr = None  # binary files, set by Sandbox.start
        self.returncode: Optional[int] = None
        self.lost = False  # the fork server died, and took this process with it
        self._server = server
        self._ended = threading.Event()

    def poll(self) -> Optional[int]:
        return self.returncode if self._ended.is_set() else None

    def wait(self, timeout: Optional[float] = None) -> int:
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired("sandboxed program %d" % self.pid, timeout)
        return self.returncode

    def kill(self) -> None:
        """End it, and with it the program's whole namespace."""
        if not self._ended.is_set():
            self._server.kill(self.pid)

    def _end(self, status: int, lost: bool = False) -> None:
        self.returncode, self.lost = status, lost
        self._ended.set()


class _ForkServer:
    """The grader's end of the fork server (``python -I -S sandbox_init.pyc --serve FD``).

    Requests go out on a Unix socket, with the program's descriptors; a reader thread takes the
    answers (started, failed) and the holders' exits, in the order the server sent them.
    """

    def __init__(self) -> None:
        self._link, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # The server's own, and requests carry changes to it: only what every program gets, so
        # nothing of the TA's environment is in the server for a request to leave behind.
        self.environment = base_environment()
        try:
            # Its own session, like every program: a Ctrl-C at the terminal is the grader's to handle.
            # Registered: a grader that is also a subreaper (processes.py) must not take it for an
            # orphan of an unsandboxed program.
            script = _init_script()
            with spawning() as register:
                self.process = subprocess.Popen(
                    [sys.executable, "-I", "-S", script, "--serve", str(theirs.fileno())],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    pass_fds=(theirs.fileno(),), close_fds=True, start_new_session=True,
                    env=self.environment)
                register(self.process)
        except BaseException:
            self._link.close()
            raise
        finally:
            theirs.close()
        self.alive = True
        self.owner = os.getpid()  # a fork of the grader must start its own server
        self._send_lock = threading.Lock()  # one message at a time on the socket
        self._lock = threading.Lock()  # the tables below, never held while sending or waiting
        self._next_id = 0
        self._asked: Dict[bytes, list] = {}  # request id -> [answered Event, holder or error text]
        self._holders: Dict[int, ForkedProcess] = {}
        threading.Thread(target=self._read, name="sandbox-fork-server", daemon=True).start()
        atexit.register(self.close)

    def close(self) -> None:
        """Stop the server (it kills what it still holds) and wait for it: nothing of the
        sandbox outlives the grader, and its CPU time is counted as the grader's."""
        try:
            self._link.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.process.wait(_SETUP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def spawn(self, request: List[bytes], fds: List[int]) -> ForkedProcess:
        with self._lock:
            if not self.alive:
                raise SandboxError("the sandbox's fork server has stopped")
            self._next_id += 1
            request_id = b"%d" % self._next_id
            message = b"\0".join([b"spawn", request_id] + request)
            if len(message) > MAX_REQUEST:
                raise SandboxError("the program's environment and arguments (%d kB) are more than "
                                   "the sandbox takes (%d kB)" % (len(message) >> 10, MAX_REQUEST >> 10))
            answer = self._asked[request_id] = [threading.Event(), None]
        try:
            with self._send_lock:
                socket.send_fds(self._link, [message], fds)
        except OSError as exc:
            with self._lock:
                self._asked.pop(request_id, None)
            raise SandboxError("the sandbox's fork server cannot be reached (%s)" % exc) from None
        if not answer[0].wait(_SETUP_TIMEOUT):
            with self._lock:
                self._asked.pop(request_id, None)  # a late answer's holder is killed (_read)
            raise SandboxError("the sandbox's fork server did not answer")
        if isinstance(answer[1], ForkedProcess):
            return answer[1]
        raise SandboxError("the sandbox could not start the program: %s" % answer[1])

    def kill(self, pid: int) -> None:
        try:
            with self._send_lock:
                self._link.send(b"kill\0%d" % pid)
        except OSError:
            pass  # the server is gone, and its holders with it

    def _read(self) -> None:
        while True:
            try:
                data = self._link.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            kind, _, rest = data.partition(b"\0")
            first, _, second = rest.partition(b"\0")
            orphan = None
            with self._lock:
                if kind == b"started":
                    process = self._holders[int(second)] = ForkedProcess(self, int(second))
                    answer = self._asked.pop(first, None)
                    if answer is None:
                        orphan = process  # asked for by a spawn that has given up
                    else:
                        answer[1] = process
                        answer[0].set()
                elif kind == b"failed":
                    answer = self._asked.pop(first, None)
                    if answer is not None:
                        answer[1] = second.decode("utf-8", "replace")
                        answer[0].set()
                elif kind == b"exit":
                    holder = self._holders.pop(int(first), None)
                    if holder is not None:
                        holder._end(int(second))
            if orphan is not None:  # not from this thread: sending may wait on the server
                threading.Thread(target=orphan.kill, daemon=True).start()
        with self._lock:  # the server is gone: its holders died with it (PR_SET_PDEATHSIG)
            self.alive = False
            for holder in self._holders.values():
                holder._end(-9, lost=True)
            for answer in self._asked.values():
                answer[1] = "its fork server stopped"
                answer[0].set()
            self._holders.clear()
            self._asked.clear()
        self._link.close()
        self.process.wait()


_SERVER: List[_ForkServer] = []  # this grader process's fork server, once started
_SERVER_LOCK = threading.Lock()


def _fork_server() -> _ForkServer:
    """This process's fork server; a new one if there is none or it has stopped (or belongs to
    the process this one was forked from)."""
    with _SERVER_LOCK:
        if not _SERVER or not _SERVER[0].alive or _SERVER[0].owner != os.getpid():
            _SERVER[:] = [_ForkServer()]
        return _SERVER[0]


def _read_only_paths() -> List[str]:
    """Host paths the program sees read-only: the system, the interpreter, the probe (and its
    compiled copy, when the grader runs that: grader/running/probe/__init__.py).  Looked up once per compiled
    probe, not once per program."""
    probe_folder = os.path.dirname(probe_script())
    if probe_folder not in _READ_ONLY:  # two threads may both look: the same answer
        _READ_ONLY[probe_folder] = _find_read_only_paths(probe_folder)
    return _READ_ONLY[probe_folder]


_READ_ONLY: Dict[str, List[str]] = {}  # folder of the probe run -> _read_only_paths()


def _find_read_only_paths(probe_folder: str) -> List[str]:
    probe = os.path.join(os.path.dirname(INIT_FILE), "probe")
    wanted = list(_SYSTEM_PATHS) + [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                                    os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))),
                                    probe, probe_folder]
    paths: List[str] = []
    for path in wanted:
        path = os.path.normpath(path)
        if os.path.lexists(path) and path not in paths:
            paths.append(path)
    return paths


def _init_script() -> str:
    """The file the fork server runs: sandbox_init.py compiled (grader/running/probe/__init__.py), or the file
    itself when that cannot be done."""
    return compiled(INIT_FILE) or INIT_FILE


