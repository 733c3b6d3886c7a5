"""``--sandbox`` (Linux): the student's program in its own network, PID and mount namespaces.

How a sandboxed run is built (``Sandbox.command`` wraps the program's command line)::

    unshare [--user --map-root-user] --net --pid --mount --fork --kill-child \\
        python -I -S sandbox_init.pyc SPEC... -- python -S -u bootstrap.py FILE

``unshare`` creates the namespaces (as root, or through an unprivileged user namespace) and this
file, run as a script (compiled, see below), becomes process 1 of the new PID namespace (the
*init*).  Before any student code exists it

* brings up ``lo``: the namespace has no other interface, so nothing but loopback is reachable;
* builds a new root on a tmpfs holding read-only bind mounts of what Python needs (``/usr``,
  ``/etc``, the interpreter's prefix, the probe), an empty read-only ``/tmp``, a few ``/dev``
  nodes, a fresh ``/proc``, and the run's temporary directory, the only writable place, all at
  their usual paths; then ``pivot_root`` and unmount the old root, so home directories, other
  submissions and other runs' directories do not exist in the program's view;
* forks the program (PID 2) after dropping every privilege: as root it becomes ``nobody``, in a
  user namespace it enters a nested one, so it holds no capability over its namespaces and
  cannot undo the mounts, and ``no_new_privs`` is set.

The reference counterpart must reach the program, but it lives in the grader.  A socket stays in
the network namespace it was created in, so the init creates the counterpart's sockets on request
and passes them to the grader over a Unix socket pair (``Sandbox.new_socket``); the grader then
binds, listens or connects them as usual.  That works without root, unlike ``setns(2)`` from a
grader thread, which needs CAP_SYS_ADMIN over the namespace's owner and cannot join a user
namespace from a threaded process.

When the program's main process ends, the init reports its exit status, counts what it left
running and exits, and the kernel kills every process left in the PID namespace.  If the grader
dies, the init sees its socket close and does the same; if ``unshare`` is killed, ``--kill-child``
takes the init down.

The init runs once per program, so what it costs is paid hundreds of times in a batch: it
imports only what it uses at its start (``os``, ``ctypes`` and the C modules ``_socket``,
``_signal``, ``select``, ``fcntl``; no ``json``, ``re``, ``typing``, ``enum``), its spec comes
as plain arguments, and the grader runs it from a file compiled once per grader process
(``_init_script``), so it is not compiled again for every program.  The grader's side imports
its modules only when it is not the init.
"""
from __future__ import annotations

import _socket  # the C module under socket: all the init needs, without socket's imports
import os
import sys

if __name__ != "__main__":  # the grader's side; the init needs none of these
    import socket
    import threading
    from typing import List, Optional, Tuple

THIS_FILE = os.path.abspath(__file__)
UNSHARE = "unshare"
NOBODY = 65534
_SETUP_TIMEOUT = 10.0  # seconds for the init to build the namespace (it takes milliseconds)

# What still holds when the sandbox is off or unavailable (docs/containment.md says more).
STILL_HOLDS = ("still in force: the time limit, CPU, memory and file-size limits, the output cap, "
               "a fresh temporary directory, closed input, and stopping every process the program "
               "started; not in force: the program can reach the network and read and write "
               "whatever your user can")

_PIVOT_ROOT = {"x86_64": 155, "amd64": 155, "aarch64": 41, "arm64": 41, "riscv64": 41,
               "loongarch64": 41, "i386": 217, "i686": 217, "s390x": 217, "ppc64le": 203,
               "ppc64": 203, "armv7l": 218, "armv6l": 218}
# Read-only in the program's view when they exist; plus the interpreter's prefixes and the probe.
_SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
_DEVICES = ("null", "zero", "full", "random", "urandom")


class SandboxError(RuntimeError):
    """The sandbox could not be set up: a problem of the machine, never of the program."""


# ---------------------------------------------------------------------------------------------
# The grader's side
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
    import subprocess
    import tempfile

    if not sys.platform.startswith("linux"):
        return False, "namespaces exist only on Linux"
    if os.uname().machine not in _PIVOT_ROOT:
        return False, "this processor type (%s) is not supported" % os.uname().machine
    if _unshare_path() is None:
        return False, "the unshare command (util-linux) is not installed"
    try:
        import ctypes  # noqa: F401  (the init needs it)
    except ImportError:
        return False, "this Python has no ctypes module"
    workdir = tempfile.mkdtemp(prefix="grader-sandbox-check-")
    try:
        sandbox = Sandbox(workdir)
        try:
            process = subprocess.Popen(
                sandbox.command([sys.executable, "-I", "-S", "-c", "import time; time.sleep(30)"]),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                pass_fds=sandbox.pass_fds(), close_fds=True)
        except OSError as exc:
            return False, "unshare could not be started (%s)" % exc
        try:
            sandbox.started()
            with sandbox.new_socket(socket.AF_INET) as sock:  # loopback is up in there
                sock.bind(("127.0.0.1", 0))
                sock.listen(1)
        except (SandboxError, OSError) as exc:
            return False, str(exc)
        finally:
            process.kill()  # --kill-child takes the namespace down with it
            process.wait()
            sandbox.close()
        return True, ""
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def unavailable_message(reason: str) -> str:
    """The sentence a user reads when they asked for the sandbox and cannot have it."""
    return "the sandbox is not available here (%s), so grading runs without it; %s." % (reason, STILL_HOLDS)


def _unshare_path() -> Optional[str]:
    import shutil

    return shutil.which(UNSHARE) or next(
        (p for p in ("/usr/bin/unshare", "/bin/unshare") if os.access(p, os.X_OK)), None)


class Sandbox:
    """The grader's handle on one sandboxed run.

    ``command`` wraps the program's argv, ``pass_fds`` must reach the started process,
    ``started`` waits until the namespace is built, ``new_socket`` makes a socket inside the
    program's network namespace, ``program_status`` is the exit status of the program's own main
    process, ``close`` releases everything.
    """

    def __init__(self, workdir: str):
        import tempfile

        self.workdir = os.path.realpath(workdir)
        self.as_root = os.geteuid() == 0
        # An empty directory to mount the new root on; nothing is ever written into it.
        self._mount_point = tempfile.mkdtemp(prefix="grader-root-")
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

    def command(self, argv: List[str]) -> List[str]:
        # The init's spec, as arguments (see _init_main): every path is absolute, so none is "--".
        spec = [str(self._init_end.fileno()), "root" if self.as_root else "user", self._mount_point,
                self.workdir] + _read_only_paths()
        wrapper = [_unshare_path() or UNSHARE]
        if not self.as_root:
            wrapper += ["--user", "--map-root-user"]
        wrapper += ["--net", "--pid", "--mount", "--propagation", "private", "--fork",
                    "--kill-child"]
        return wrapper + [sys.executable, "-I", "-S", _init_script()] + spec + ["--"] + list(argv)

    def pass_fds(self) -> List[int]:
        return [self._init_end.fileno()]

    def started(self) -> None:
        """Call right after starting the command: waits (bounded) for the namespace."""
        self._init_end.close()
        kind, text, _ = self._receive(_SETUP_TIMEOUT)
        if kind != "ready":
            raise SandboxError("the sandbox could not be set up: %s" % (text or "its setup did not answer"))

    def new_socket(self, family: int) -> socket.socket:
        """A TCP socket of ``family`` that lives in the program's network namespace."""
        with self._lock:
            try:
                self._grader_end.send(b"6" if family == socket.AF_INET6 else b"4")
            except OSError:
                raise OSError("the program's network namespace is gone") from None
            while True:
                kind, text, fds = self._receive(_SETUP_TIMEOUT)
                if kind == "socket" and fds:
                    return socket.socket(fileno=fds[0])
                if kind in ("error", "gone"):
                    raise OSError("no socket in the program's network namespace: %s" % text)

    def program_status(self) -> Optional[int]:
        """The program's exit status as its init saw it (negative: killed by that signal)."""
        return self._status

    def left_running(self) -> int:
        """Processes the program left running when its main process ended (the kernel killed them)."""
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


def _read_only_paths() -> List[str]:
    """Host paths the program sees read-only: the system, the interpreter, the probe (and its
    compiled copy, when the grader runs that: grader/launch.py)."""
    from grader.launch import probe_script

    probe = os.path.join(os.path.dirname(THIS_FILE), "probe")
    wanted = list(_SYSTEM_PATHS) + [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                                    os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))),
                                    probe, os.path.dirname(probe_script())]
    paths: List[str] = []
    for path in wanted:
        path = os.path.normpath(path)
        if os.path.lexists(path) and path not in paths:
            paths.append(path)
    return paths


def _init_script() -> str:
    """The file the init runs: this one compiled once per grader process (grader/launch.py),
    so that each init does not compile some 500 lines again; this file itself when that
    cannot be done."""
    from grader.launch import compiled

    return compiled(THIS_FILE) or THIS_FILE


# ---------------------------------------------------------------------------------------------
# The init: process 1 of the program's PID namespace
# ---------------------------------------------------------------------------------------------

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
MNT_DETACH = 2
CLONE_NEWUSER = 0x10000000
PR_SET_NO_NEW_PRIVS = 38
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


class _Libc:
    def __init__(self):
        import ctypes
        self.ctypes = ctypes
        self.lib = ctypes.CDLL(None, use_errno=True)

    def call(self, what: str, result: int) -> None:
        if result != 0:
            err = self.ctypes.get_errno()
            raise OSError(err, "%s: %s" % (what, os.strerror(err)))

    def mount(self, source, target, fstype, flags, data=None):
        enc = lambda s: s.encode() if isinstance(s, str) else s  # noqa: E731
        self.call("mount %s" % target, self.lib.mount(enc(source), enc(target), enc(fstype),
                                                    self.ctypes.c_ulong(flags), enc(data)))

    def umount(self, target):
        self.call("umount %s" % target, self.lib.umount2(target.encode(), MNT_DETACH))

    def pivot_root(self, new_root, put_old):
        number = _PIVOT_ROOT[os.uname().machine]
        self.call("pivot_root", self.lib.syscall(self.ctypes.c_long(number), new_root.encode(),
                                                 put_old.encode()))

    def unshare(self, flags):
        self.call("unshare", self.lib.unshare(flags))

    def prctl(self, option, value):
        self.call("prctl", self.lib.prctl(option, self.ctypes.c_ulong(value), 0, 0, 0))


def _locked_flags(path: str) -> int:
    """Mount flags a remount must keep: without them an unprivileged remount is refused."""
    flags = os.statvfs(path).f_flag
    kept = 0
    for st, ms in ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
                   (os.ST_NOATIME, MS_NOATIME), (os.ST_NODIRATIME, MS_NODIRATIME),
                   (os.ST_RELATIME, MS_RELATIME)):
        if flags & st:
            kept |= ms
    return kept


def _mount_points() -> List[str]:
    with open("/proc/self/mountinfo") as handle:
        return [line.split()[4].replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")
                for line in handle]


def _under(point: str, path: str) -> bool:
    return point == path or point.startswith(path.rstrip("/") + "/")


def _bind(libc: _Libc, source: str, target: str, host_points: List[str], writable: bool = False,
          device: bool = False) -> None:
    """Bind ``source`` (and the mounts under it) at ``target``, then remount each of them
    read-only (unless ``writable``), nosuid and nodev (unless ``device``).

    ``host_points``: the mount points when the new root was mounted.  When none lies below
    ``source``, ``target`` is the only mount to remount; else the table is read again.
    """
    libc.mount(source, target, None, MS_BIND | MS_REC)
    extra = (0 if writable else MS_RDONLY) | (0 if device else MS_NODEV)
    if any(_under(point, source) and point != source for point in host_points):
        points = [point for point in _mount_points() if _under(point, target)]
    else:
        points = [target]
    for point in points:
        libc.mount(None, point, None, MS_BIND | MS_REMOUNT | MS_NOSUID | extra | _locked_flags(point))


def _make_place(root: str, path: str, like: str) -> str:
    """Create ``path`` inside ``root`` (a directory, or an empty file when ``like`` is a file)."""
    target = root + path
    if os.path.isdir(like):
        os.makedirs(target, mode=0o755, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
        if not os.path.exists(target):
            open(target, "w").close()
    return target


def _loopback_up() -> None:
    import fcntl
    import struct  # ctypes has loaded it already

    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))
    finally:
        sock.close()


def _build_root(libc: _Libc, spec: dict) -> None:
    """The program's view of the file system; see the module docstring."""
    root, workdir = spec["root"], spec["workdir"]
    libc.mount(None, "/", None, MS_REC | MS_PRIVATE)
    libc.mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
    # Read once: a source with no mount below it needs no second look (the new root's own mount
    # is listed, so a source that holds it is looked at again after each bind).
    host_points = _mount_points()
    done: List[str] = []
    for path in sorted(spec["read_only"], key=len):
        if os.path.islink(path) and os.path.dirname(path) == "/":  # /bin -> usr/bin
            if not os.path.lexists(root + path):
                os.symlink(os.readlink(path), root + path)
            continue
        real = os.path.realpath(path)
        if os.path.exists(root + path) and os.path.ismount(root + path):
            continue
        if any(real == other or real.startswith(other + "/") for other in done):
            continue  # already visible through an earlier mount
        _bind(libc, real, _make_place(root, path, real), host_points)
        done.append(real)
    _bind(libc, workdir, _make_place(root, workdir, workdir), host_points, writable=True)
    for name in _DEVICES:
        source = "/dev/" + name
        if os.path.exists(source):
            _bind(libc, source, _make_place(root, source, source), host_points, writable=True,
                  device=True)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, root + "/dev/" + name)
    for empty in ("/tmp", "/proc", "/.old-root"):
        os.makedirs(root + empty, mode=0o755, exist_ok=True)
    try:  # a /proc of the new PID namespace: it shows the program's processes only
        libc.mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY)
    except OSError:
        pass  # refused in some containers; the program then has no /proc at all
    libc.pivot_root(root, root + "/.old-root")
    os.chdir("/")
    libc.umount("/.old-root")
    os.rmdir("/.old-root")
    libc.mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.chdir(workdir)


def _drop_privileges(libc: _Libc, as_root: bool) -> None:
    """In the program's process, right before exec: no capability over anything."""
    if as_root:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    else:
        # A nested user namespace: full "capabilities" there, none over the namespaces the
        # program lives in, and the mounts above become locked.
        libc.unshare(CLONE_NEWUSER)
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1)


def _send(control, text: str, fds=()) -> None:
    """One message to the grader, with file descriptors (``socket.send_fds`` without ``socket``)."""
    data = text.encode("utf-8", "replace")
    try:
        if fds:
            rights = b"".join(fd.to_bytes(4, sys.byteorder) for fd in fds)  # C ints
            control.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
        else:
            control.send(data)
    except OSError:
        pass


def _left_in_namespace() -> int:
    """Processes other than this init still alive in the namespace (0 without a /proc)."""
    count = 0
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0
    for entry in entries:
        if entry.isdigit() and entry != "1":
            try:
                with open("/proc/%s/stat" % entry, "rb") as handle:
                    stat = handle.read()
                if stat[stat.rindex(b")") + 2:][:1] != b"Z":
                    count += 1
            except (OSError, ValueError):
                pass
    return count


def _serve(control, child: int) -> int:
    """Hand out sockets until the program's main process ends; returns its exit status."""
    import _signal
    import select

    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    _signal.set_wakeup_fd(wake_w)
    _signal.signal(_signal.SIGCHLD, lambda *_: None)  # a handler, so SIGCHLD wakes poll()
    # poll(), not select(): the control socket keeps the number it had in the grader, which
    # passes 1023 (select's limit) when a batch has many gradings open at once.
    poller = select.poll()
    poller.register(control.fileno(), select.POLLIN)
    poller.register(wake_r, select.POLLIN)
    status = None
    while True:
        # Reap first: the program may have ended before the handler was there.
        while True:  # reap everything: orphans of the program come to us
            try:
                pid, raw = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:  # cannot happen before the main process was reaped
                status = 1 if status is None else status
                break
            if pid == 0:
                break
            if pid == child:
                status = os.waitstatus_to_exitcode(raw)
        if status is not None:
            break
        try:
            ready = {fd for fd, _ in poller.poll(1000)}
        except InterruptedError:
            ready = set()
        if wake_r in ready:
            os.read(wake_r, 4096)
        if control.fileno() in ready:
            request = control.recv(16)
            if not request:
                return 137  # the grader is gone: leaving takes the whole namespace down
            family = _socket.AF_INET6 if request == b"6" else _socket.AF_INET
            try:
                sock = _socket.socket(family, _socket.SOCK_STREAM)
            except OSError as exc:
                _send(control, "error:%s" % exc)
                continue
            _send(control, "socket:", [sock.fileno()])
            sock.close()
    left = _left_in_namespace()
    _send(control, "exit:%d:%d" % (status, left))
    return status


def _init_main(args: List[str]) -> int:
    # The spec (Sandbox.command): control fd, "root" or "user", the new root's mount point, the
    # run's directory, the read-only paths, "--", the program's argv.
    split = args.index("--")
    spec = {"control": int(args[0]), "as_root": args[1] == "root", "root": args[2],
            "workdir": args[3], "read_only": args[4:split]}
    argv = args[split + 1:]
    control = _socket.socket(fileno=spec["control"])
    libc = _Libc()
    try:
        _loopback_up()
        _build_root(libc, spec)
    except Exception as exc:  # told to the grader, which reports it as its own problem
        _send(control, "failed:%s" % exc)
        return 125
    check_r, check_w = os.pipe()  # closes on exec: empty means the program started
    child = os.fork()
    if child == 0:
        try:
            os.close(check_r)
            control.close()
            _drop_privileges(libc, spec["as_root"])
            os.execv(argv[0], argv)
        except BaseException as exc:
            os.write(check_w, str(exc).encode("utf-8", "replace")[:1000] or b"?")
        os._exit(127)
    os.close(check_w)
    problem = b""
    while True:
        chunk = os.read(check_r, 1000)
        if not chunk:
            break
        problem += chunk
    os.close(check_r)
    if problem:
        _send(control, "failed:%s" % problem.decode("utf-8", "replace"))
        return 125
    # The program has what it needs; the init keeps nothing of the program's.
    devnull = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    keep = sorted({0, 1, 2, control.fileno()})
    os.closerange(3, keep[-1])
    os.closerange(keep[-1] + 1, 1 << 16)
    _send(control, "ready:")
    status = _serve(control, child)
    return status if 0 <= status < 256 else 128 + (-status % 128)


if __name__ == "__main__":
    # os._exit: the interpreter's teardown (a few ms) is of no use to anyone here; the init has
    # no buffered output (its stdio is /dev/null) and the grader has its last message.
    os._exit(_init_main(sys.argv[1:]))
