"""The sandbox's own processes (grader/running/sandbox.py is the grader's side): a fork server, and the
init of each program's namespaces.

The grader runs this file as a script, compiled, once per grader process that sandboxes::

    python -I -S sandbox_init.pyc --serve FD

and it becomes the *fork server*: a small single-threaded process that has loaded what an init
needs (``ctypes`` above all) once.  For each program the grader sends it, on the socket FD, the
program's argv and environment (as changes to the server's own), the sandbox's spec and the
program's file descriptors; then::

    fork server --fork--> holder --unshare, fork--> init (PID 1) --fork, exec--> program (PID 2)

* the *holder* starts its own session, takes the file descriptors to the numbers the grader
  gave, creates the network, PID and mount namespaces (and a user namespace when not root, with
  the grader's user as its root) and forks the init; then it holds nothing and waits for the
  init, and exits with its status.  The grader sees it as the program's process
  (``sandbox.ForkedProcess``): killing it kills the init, and the kernel then ends every process
  in the namespace.
* the *init* is process 1 of the new PID namespace.  Before any student code exists it brings
  up ``lo`` (the only interface: nothing but loopback is reachable), builds a new root on a
  tmpfs holding read-only bind mounts of what Python needs (``/usr``, ``/etc``, the
  interpreter's prefix, the probe), an empty read-only ``/tmp``, a few ``/dev`` nodes, a fresh
  ``/proc`` and, at the path of the run's temporary directory, the only writable place: a tmpfs
  capped in bytes and files that holds a copy of the program's file, all at their usual
  paths; then ``pivot_root`` and unmount the old root, so home directories, other submissions
  and other runs' directories do not exist in the program's view.
* the *program* is forked by the init and drops every privilege before it runs: as root it
  becomes ``nobody``, in a user namespace it enters a nested one, so it holds no capability
  over its namespaces and cannot undo the mounts, and ``no_new_privs`` is set.  Then it
  executes a fresh interpreter under the probe: its environment is what a program started
  by ``subprocess`` would have, nothing of this process's.

The reference counterpart must reach the program, but it lives in the grader.  A socket stays in
the network namespace it was created in, so the init creates the counterpart's sockets on request
and passes them to the grader over a Unix socket pair (``Sandbox.new_socket``); the grader then
binds, listens or connects them as usual.  That works without root, unlike ``setns(2)`` from a
grader thread, which needs CAP_SYS_ADMIN over the namespace's owner and cannot join a user
namespace from a threaded process.

When the program's main process ends, the init reports its exit status, counts what it left
running and exits, and the kernel kills every process left in the PID namespace.  If the grader
dies, the fork server sees its socket close and kills every holder, and each init sees its own
socket close; if the fork server dies, its holders die with it (``PR_SET_PDEATHSIG``), and each
init with its holder.

Why a fork server: an init that was a new interpreter (with ``ctypes``, under ``unshare``) cost
about 20 ms of CPU per program, paid hundreds of times in a batch; a fork of this warm process
costs about 1 ms.  This file imports only what the processes use (``os``, ``ctypes`` and the C
modules ``_socket``, ``_signal``, ``select``, ``fcntl``); it is also imported by the grader,
for its constants.
"""
from __future__ import annotations

import _socket  # the C module under socket: all these processes need, without socket's imports
import os
import sys

NOBODY = 65534

PIVOT_ROOT = {"x86_64": 155, "amd64": 155, "aarch64": 41, "arm64": 41, "riscv64": 41,
              "loongarch64": 41, "i386": 217, "i686": 217, "s390x": 217, "ppc64le": 203,
              "ppc64": 203, "armv7l": 218, "armv6l": 218}  # pivot_root's system call number
_DEVICES = ("null", "zero", "full", "random", "urandom")

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
MNT_DETACH = 2
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x20000, 0x10000000, 0x20000000, 0x40000000
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
SIGKILL = 9
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
NETLINK_SOCK_DIAG = 4  # linux/netlink.h (grader/running/kernel.py asks with it)
MAX_REQUEST = 192 << 10  # bytes of one request (a few hundred); below the socket's own limit
MAX_REQUEST_FDS = 16


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
        number = PIVOT_ROOT[os.uname().machine]
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


def _mount_points() -> list:
    with open("/proc/self/mountinfo") as handle:
        return [line.split()[4].replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")
                for line in handle]


def _under(point: str, path: str) -> bool:
    return point == path or point.startswith(path.rstrip("/") + "/")


def _bind(libc: _Libc, source: str, target: str, host_points: list, writable: bool = False,
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
    done: list = []
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
    _run_directory(libc, spec, _make_place(root, workdir, workdir))
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


def _run_directory(libc: _Libc, spec: dict, target: str) -> None:
    """The run's directory, the only writable place: a tmpfs capped in bytes and files (the
    grader's limits.py), holding a copy of what the grader put in the real one (the program's
    file).  Writing past it is ``OSError: [Errno 28] No space left on device``; whatever the
    program wrote goes with the namespace."""
    owner = ",uid=%d,gid=%d" % (NOBODY, NOBODY) if spec["as_root"] else ""
    # nr_inodes counts the directory itself too.
    libc.mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700,size=%d,nr_inodes=%d%s"
               % (spec["disk_bytes"], spec["disk_files"] + 1, owner))
    # The grader's copy of the program's folder (launch.copy_folder: files and folders, no
    # links), made before any of the program's code ran; copied again, folders included.
    inside = os.path.realpath(target) + os.sep
    for folder, dirs, files in os.walk(spec["workdir"]):
        into = os.path.join(target, os.path.relpath(folder, spec["workdir"]))
        # Never into the new root itself (when it was made inside the run's folder).
        dirs[:] = [d for d in dirs if not inside.startswith(os.path.realpath(os.path.join(folder, d)) + os.sep)]
        for name in dirs:
            if not os.path.islink(os.path.join(folder, name)):
                os.mkdir(os.path.join(into, name), 0o700)
                if spec["as_root"]:
                    os.chown(os.path.join(into, name), NOBODY, NOBODY)
        for name in files:
            source = os.path.join(folder, name)
            if not os.path.isfile(source) or os.path.islink(source):
                continue
            with open(source, "rb") as reading, open(os.path.join(into, name), "wb") as writing:
                while True:
                    chunk = reading.read(1 << 20)
                    if not chunk:
                        break
                    writing.write(chunk)
                os.fchmod(writing.fileno(), os.fstat(reading.fileno()).st_mode & 0o777)
                if spec["as_root"]:
                    os.fchown(writing.fileno(), NOBODY, NOBODY)


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


def _left_in_namespace(besides: int = 1) -> int:
    """Processes other than this init (and ``besides``) still alive in the namespace (0 without
    a /proc)."""
    count = 0
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0
    for entry in entries:
        if entry.isdigit() and entry not in ("1", str(besides)):
            try:
                with open("/proc/%s/stat" % entry, "rb") as handle:
                    stat = handle.read()
                if stat[stat.rindex(b")") + 2:][:1] != b"Z":
                    count += 1
            except (OSError, ValueError):
                pass
    return count


def _poller_woken_by_children(fd: int) -> tuple:
    """(a poll object watching ``fd``, a pipe it also watches that SIGCHLD writes to): a wait
    for ``fd`` that a child's end interrupts.  Drain the pipe when it is ready."""
    import _signal
    import select

    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    _signal.set_wakeup_fd(wake_w)
    _signal.signal(_signal.SIGCHLD, lambda *_: None)  # a handler, so SIGCHLD wakes poll()
    # poll(), not select(): the init's control socket keeps the number it had in the grader,
    # which passes 1023 (select's limit) when a batch has many gradings open at once.
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    poller.register(wake_r, select.POLLIN)
    return poller, wake_r


def _hand_out_sockets(control, child: int) -> int:
    """Hand out sockets until the program's main process ends; returns its exit status."""
    poller, wake_r = _poller_woken_by_children(control.fileno())
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
            if request == b"end":
                # The grader stops the program: say what else it had running, then leave, and
                # the kernel ends everything in the namespace.
                _send(control, "exit:%d:%d" % (-SIGKILL, _left_in_namespace(besides=child)))
                return 128 + SIGKILL
            family = _socket.AF_INET6 if request in (b"6", b"u6") else _socket.AF_INET
            kind = _socket.SOCK_DGRAM if request.startswith(b"u") else _socket.SOCK_STREAM  # u: UDP
            try:
                if request == b"d":  # to ask the kernel about the namespace's connections
                    sock = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_DGRAM, NETLINK_SOCK_DIAG)
                else:
                    sock = _socket.socket(family, kind)
            except OSError as exc:
                _send(control, "error:%s" % exc)
                continue
            _send(control, "socket:", [sock.fileno()])
            sock.close()
    left = _left_in_namespace()
    _send(control, "exit:%d:%d" % (status, left))
    return status


def _init(libc: _Libc, spec: dict) -> int:
    """Process 1 of the program's PID namespace: build the namespace, start the program, hand out
    sockets until it ends; returns the program's exit status."""
    libc.prctl(PR_SET_PDEATHSIG, SIGKILL)  # the holder's death ends the namespace
    control = _socket.socket(fileno=spec["control"])
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
            argv = spec["argv"]
            os.execve(argv[0], argv, spec["env"])
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
    _close_all_but({0, 1, 2, control.fileno()})
    _send(control, "ready:")
    status = _hand_out_sockets(control, child)
    return status if 0 <= status < 256 else 128 + (-status % 128)


# ---------------------------------------------------------------------------------------------
# The fork server and its holders
# ---------------------------------------------------------------------------------------------

def _holder(libc: _Libc, spec: dict, fds: list, server: int) -> int:
    """A fork of the server, for one program: see the module docstring."""
    import _signal

    _signal.set_wakeup_fd(-1)  # the server's, not ours
    _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
    libc.prctl(PR_SET_PDEATHSIG, SIGKILL)  # the server's death ends every program
    if os.getppid() != server:
        return 137  # it died before that
    os.setsid()  # like a program started with start_new_session: no signal from the terminal
    _place_descriptors(fds, spec["targets"])
    control = _socket.socket(fileno=spec["control"])
    try:
        uid, gid = os.geteuid(), os.getegid()
        libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | (0 if spec["as_root"] else CLONE_NEWUSER))
        if not spec["as_root"]:
            _map_to_root(uid, gid)
        init = os.fork()
    except OSError as exc:
        _send(control, "failed:%s" % exc)
        return 125
    if init == 0:
        status = 125
        try:
            status = _init(libc, spec)
        finally:
            # os._exit: the interpreter's teardown is of no use here, and the init has no
            # buffered output (its stdio is /dev/null).
            os._exit(status)
    _close_all_but(set())  # hold nothing: the program's pipes end when it does
    while True:
        try:
            pid, raw = os.waitpid(init, 0)
        except ChildProcessError:
            return 125
        if pid == init:
            status = os.waitstatus_to_exitcode(raw)
            return status if status >= 0 else 128 - status


def _place_descriptors(fds: list, targets: list) -> None:
    """Give the received ``fds`` the numbers in ``targets``, stdin /dev/null, close the rest."""
    import fcntl

    base = max(list(targets) + [2]) + 1
    moved = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, base) for fd in fds]
    _close_all_but(set(moved))
    devnull = os.open("/dev/null", os.O_RDWR)  # 0: everything below ``base`` is closed
    if devnull != 0:
        os.dup2(devnull, 0)
        os.close(devnull)
    os.set_inheritable(0, True)
    for fd, target in zip(moved, targets):
        os.dup2(fd, target)  # inheritable
        os.close(fd)


def _close_all_but(keep: set) -> None:
    """Close every open file descriptor not in ``keep``."""
    try:
        entries = os.listdir("/proc/self/fd")
    except OSError:  # no /proc (some containers refuse one in the sandbox): close them all
        start = 0
        for fd in sorted(keep) + [max(os.sysconf("SC_OPEN_MAX"), max(keep, default=0) + 1)]:
            os.closerange(start, fd)
            start = fd + 1
        return
    for entry in entries:
        if int(entry) not in keep:
            try:
                os.close(int(entry))
            except OSError:
                pass  # the directory's own descriptor, closed already


def _map_to_root(uid: int, gid: int) -> None:
    """In a new user namespace: the grader's user and group are its root (``unshare
    --map-root-user``)."""
    try:
        with open("/proc/self/setgroups", "w") as handle:  # required before gid_map
            handle.write("deny")
    except FileNotFoundError:
        pass  # a kernel older than 3.19
    with open("/proc/self/uid_map", "w") as handle:
        handle.write("0 %d 1" % uid)
    with open("/proc/self/gid_map", "w") as handle:
        handle.write("0 %d 1" % gid)


def _parse_request(fields: list) -> dict:
    """A spawn request (``sandbox.Sandbox.start`` writes it): NUL-separated fields."""
    rest = iter(fields)

    def take(count: bytes) -> list:
        return [next(rest) for _ in range(int(count))]

    spec = {"id": next(rest), "as_root": next(rest) == b"root", "root": os.fsdecode(next(rest)),
            "workdir": os.fsdecode(next(rest)), "disk_bytes": int(next(rest)),
            "disk_files": int(next(rest))}
    spec["read_only"] = [os.fsdecode(path) for path in take(next(rest))]
    spec["targets"] = [int(fd) for fd in take(next(rest))]
    spec["control"] = spec["targets"][2]  # after stdout and stderr
    # The environment as changes to this server's own (the grader's when it started the server).
    env = dict(os.environb)
    env.update(item.split(b"=", 1) for item in take(next(rest)) if b"=" in item)
    for name in take(next(rest)):
        env.pop(name, None)
    spec["env"] = env
    spec["argv"] = list(rest)
    if not spec["argv"]:
        raise ValueError("no program to run")
    return spec


def _receive(link) -> tuple:
    """(request, fds) from the grader; (b"", []) when it is gone."""
    data, ancillary, flags, _ = link.recvmsg(MAX_REQUEST, _socket.CMSG_SPACE(MAX_REQUEST_FDS * 4))
    fds = []
    for level, kind, payload in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds += [int.from_bytes(payload[i:i + 4], sys.byteorder, signed=True)
                    for i in range(0, len(payload) - len(payload) % 4, 4)]
    if data and flags & (_socket.MSG_TRUNC | _socket.MSG_CTRUNC):
        data = b"truncated\0" + _request_id(data)  # answered as a failure
    return data, fds


def _request_id(data: bytes) -> bytes:
    fields = data.split(b"\0", 2)
    return fields[1] if len(fields) > 1 else b""


def _handle(libc: _Libc, data: bytes, fds: list, holders: set, server: int) -> tuple:
    """Do what one request asks; for a spawn, (request id, the holder's PID) to answer."""
    kind, _, rest = data.partition(b"\0")
    if kind == b"kill":
        if int(rest) in holders:  # not reaped yet: the number is still this holder's
            os.kill(int(rest), SIGKILL)
        return ()
    if kind != b"spawn":
        raise ValueError("a request the sandbox cannot take (%s)" % kind.decode("ascii", "replace"))
    spec = _parse_request(rest.split(b"\0"))
    if len(fds) != len(spec["targets"]):
        raise ValueError("%d descriptors for %d places" % (len(fds), len(spec["targets"])))
    pid = os.fork()
    if pid == 0:
        status = 125
        try:
            status = _holder(libc, spec, fds, server)
        finally:
            os._exit(status)
    holders.add(pid)
    return spec["id"], b"%d" % pid


def serve_forks(fd: int) -> int:
    """The fork server's loop: start programs on request, report each holder's exit."""
    libc = _Libc()  # loaded once here, not once per program
    link = _socket.socket(fileno=fd)
    poller, wake_r = _poller_woken_by_children(fd)
    holders = set()
    server = os.getpid()
    while True:
        while holders:  # reap first: a holder may have ended before the handler was there
            try:
                pid, raw = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            holders.discard(pid)
            _reply(link, b"exit", b"%d" % pid, b"%d" % os.waitstatus_to_exitcode(raw))
        ready = {ready_fd for ready_fd, _ in poller.poll()}
        if wake_r in ready:
            os.read(wake_r, 4096)
        if link.fileno() not in ready:
            continue
        try:
            data, fds = _receive(link)
        except OSError:
            data, fds = b"", []
        if not data:
            break  # the grader is gone, and its programs go too
        try:
            started = _handle(libc, data, fds, holders, server)
            if started:
                _reply(link, b"started", *started)
        except Exception as exc:
            _reply(link, b"failed", _request_id(data), str(exc).encode("utf-8", "replace"))
        finally:
            for received in fds:
                os.close(received)
    for pid in holders:
        try:
            os.kill(pid, SIGKILL)
        except OSError:
            pass
    return 0


def _reply(link, *fields: bytes) -> None:
    try:
        link.send(b"\0".join(fields))
    except OSError:
        pass  # the grader is gone: the loop sees it next


if __name__ == "__main__" and sys.argv[1:2] == ["--serve"]:
    os._exit(serve_forks(int(sys.argv[2])))
