"""Starting and stopping a student's process tree: all the per-OS code lives here.

Every process a grading starts carries a marker in its environment (``GRADER_RUN_ID``).  On Linux
that finds descendants that left the process group or the session (double fork, ``setsid``):
they keep the environment they inherited.  Elsewhere on POSIX the process group is what we can
reach; on Windows a job object (``track``) and ``taskkill /T`` take the tree.

A program that clears its environment *and* leaves its session escapes the marker.  On Linux
the grader closes that gap by becoming a *child subreaper* (``become_subreaper``, once, when it
first starts a program unsandboxed): every process a program orphans is then re-parented to the
grader instead of to init, so ``kill_tree`` finds it among the grader's own children and stops
it, sweeping until a sweep finds nothing.  Children the grader started itself are ``register``ed
so that they are never taken for orphans.  ``--sandbox`` (a PID namespace,
``grader/running/sandbox.py``) needs none of this.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple

MARKER_VARIABLE = "GRADER_RUN_ID"
IS_WINDOWS = os.name == "nt"
IS_LINUX = sys.platform.startswith("linux")


def popen_kwargs(pass_handles: Sequence[int]) -> Dict[str, object]:
    """Keyword arguments for ``subprocess.Popen`` that put the program in its own group and
    let it inherit exactly the probe's channel (``pass_handles``: fds, or handles on Windows)."""
    if IS_WINDOWS:
        info = subprocess.STARTUPINFO()
        info.lpAttributeList = {"handle_list": list(pass_handles)}
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP, "startupinfo": info,
                "close_fds": True}
    return {"start_new_session": True, "pass_fds": tuple(pass_handles), "close_fds": True}


def marked_pids(marker: str) -> List[int]:
    """PIDs of live processes whose environment carries ``marker`` (Linux only)."""
    if not IS_LINUX:
        return []
    needle = ("%s=%s" % (MARKER_VARIABLE, marker)).encode()
    found = []
    me = os.getpid()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open("/proc/%s/environ" % entry, "rb") as handle:
                environ = handle.read()
        except OSError:  # gone already, or not ours to read
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry))
    return found


_PR_SET_CHILD_SUBREAPER = 36
_CHILDREN_LOCK = threading.Lock()  # held while starting a child and while judging our children
_OWN: Dict[int, object] = {}  # pid -> the Popen (or alike) of a child the grader started itself
# Once tried, by this process: {our pid: the children we had then (pid -> start time), or None
# when it could not be done}.  A fork of the grader is no subreaper (the flag is not inherited).
_SUBREAPER: Dict[int, Optional[Dict[int, bytes]]] = {}


def become_subreaper() -> bool:
    """Linux: make this process the reaper of the orphans of every process it starts (once;
    later calls only answer).  False where that cannot be done."""
    done = _SUBREAPER.get(os.getpid(), False)
    if done is not False:  # asked before: no lock (every program start asks)
        return done is not None
    with _CHILDREN_LOCK:
        if os.getpid() not in _SUBREAPER:
            _SUBREAPER[os.getpid()] = _set_subreaper()
        return _SUBREAPER[os.getpid()] is not None


def _set_subreaper() -> Optional[Dict[int, bytes]]:
    if not IS_LINUX:
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_CHILD_SUBREAPER, ctypes.c_ulong(1), 0, 0, 0) != 0:
            return None
    except (OSError, AttributeError, ImportError):
        return None
    # Children we had before are not orphans of a program (a pid is told apart from a later
    # holder of the same number by its start time).
    stats = ((pid, _stat(pid)) for pid in _children_of_self())
    return {pid: stat[3] for pid, stat in stats if stat is not None}


def _subreaping() -> bool:
    return _SUBREAPER.get(os.getpid()) is not None


@contextlib.contextmanager
def spawning() -> Iterator[Callable[[object], None]]:
    """``with spawning() as register: p = Popen(...); register(p)``: a child the grader starts
    itself, never taken for a program's orphan (not even in the instant before it is known)."""
    with _CHILDREN_LOCK:
        yield lambda process: _OWN.__setitem__(process.pid, process)


def _is_own_child(pid: int) -> bool:
    process = _OWN.get(pid)
    if process is None:
        return False
    if getattr(process, "returncode", None) is not None:  # reaped: the number is free again
        del _OWN[pid]
        return False
    return True


def track(process: subprocess.Popen) -> object:
    """Call right after starting the program: what ``kill_tree`` needs besides the process.

    On Windows a job object that kills every process in it when closed: unlike ``taskkill /T``,
    it also reaches grandchildren whose parent has already exited.  The program cannot run
    student code before the grader sends its configuration, so nothing escapes before this.
    Elsewhere nothing (None).
    """
    if not IS_WINDOWS:
        return None
    try:
        return _WindowsJob(process)
    except OSError:
        return None  # e.g. nested jobs refused on an old Windows: taskkill /T still runs


def kill_tree(process, marker: str, timeout: float = 5.0, job: object = None,
              is_wrapper: Callable[[int], bool] = lambda pid: False) -> List[int]:
    """Kill the program and everything it started; returns the PIDs of the processes besides
    the program (and ``is_wrapper`` ones, e.g. a sandbox's own) that were still running.
    Waits (bounded) until they are gone.  ``process``: a ``subprocess.Popen``, or a
    ``grader.running.sandbox.ForkedProcess``."""
    if IS_WINDOWS:
        if isinstance(job, _WindowsJob):
            job.kill()
        if process.poll() is None:
            subprocess.run(["taskkill", "/F", "/T", "/PID", str(process.pid)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        _reap(process, timeout)
        return []
    if isinstance(process, subprocess.Popen) and _subreaping():
        return _kill_reaped_tree(process, marker, timeout)
    # Counted before any signal, so the number is what was running, not what a race left (and
    # ``is_wrapper`` asked while the processes still exist).
    running = [p for p in _live(marked_pids(marker)) if not is_wrapper(p)] if IS_LINUX else []
    kill_group(process)
    _reap(process, timeout)
    deadline = time.monotonic() + timeout
    while IS_LINUX:
        # Children that left the group or the session (double fork, setsid) keep the marker.
        pids = _live(marked_pids(marker))
        if not pids or time.monotonic() > deadline:
            break
        running.extend(p for p in pids if p not in running and not is_wrapper(p))
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.01)
    _forget(process)
    return [p for p in running if p != process.pid]


def kill_group(process) -> None:
    """SIGKILL the program's process group and the program (no waiting)."""
    if isinstance(process, subprocess.Popen) and not IS_WINDOWS:  # a sandbox's process ends
        try:                                                       # its namespace by kill()
            os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            pass
    if process.poll() is None:
        try:
            process.kill()
        except OSError:
            pass


# -- Linux, as a subreaper -----------------------------------------------------------------------

# What /proc/PID/stat says of a process: (parent, session, zombie or gone, start time).
_Stat = Tuple[int, int, bool, bytes]


def _kill_reaped_tree(process: subprocess.Popen, marker: str, timeout: float) -> List[int]:
    """``kill_tree`` for a grader that is a subreaper.

    One search of /proc finds the run's processes (the program's tree, and the grader's
    children that are its orphans, with theirs); they are killed.  From then on whatever they
    forked meanwhile becomes our child the moment its parent has ended (the kernel re-parents
    children before their parent turns zombie), so it is enough to wait until everything killed
    has ended and look at our own children again, until a look finds none of the run's.

    Orphans are told apart from another run's by the marker (when they kept it) and by their
    session; one that has neither (it cleared its environment, left its session and lost its
    parent) cannot be told apart, and the first grading that looks stops it.
    """
    root = process.pid
    sessions = {root}  # sessions of the run's processes: their orphans are the run's too
    deadline = time.monotonic() + timeout
    members = _run_members(root, marker, sessions)  # counted before any signal
    # the live processes besides the program -> their start time (a PID is reused only later)
    stopped = {pid: stat[3] for pid, stat in members.items() if pid != root and not stat[2]}
    _kill(stopped)
    kill_group(process)
    _reap(process, timeout)
    _reap_orphans({pid: stat[3] for pid, stat in members.items() if pid != root and stat[2]})
    while True:
        _wait_ended(stopped, deadline)
        if not _chase_orphans(root, marker, sessions, stopped, deadline) or time.monotonic() > deadline:
            break
    _reap_orphans(stopped, until=deadline)
    _forget(process)
    return list(stopped)


def _wait_ended(pids: Dict[int, bytes], deadline: float) -> None:
    """Wait (bounded) until each of ``pids`` (pid -> start time) is a zombie or gone."""
    waiting = dict(pids)
    while waiting and time.monotonic() < deadline:
        for pid, started in list(waiting.items()):
            stat = _stat(pid)
            if stat is None or stat[2] or stat[3] != started:
                del waiting[pid]
        if waiting:
            time.sleep(0.001)


def _forget(process) -> None:
    """Once a child of ours is reaped, its number is not ours any more."""
    with _CHILDREN_LOCK:
        if getattr(process, "returncode", None) is not None and _OWN.get(process.pid) is process:
            del _OWN[process.pid]


def _kill(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _chase_orphans(root: int, marker: str, sessions: Set[int], stopped: Dict[int, bytes],
                   deadline: float) -> bool:
    """Kill and reap the run's orphans among our own children as fast as they appear, until a
    look finds none, alive or dead (or the deadline); whether there were any.  A fork chain
    whose every link exits at once outruns a search of all of /proc, not this: each link is
    our child the moment its parent exits, and a killed link cannot fork again."""
    any_found = False
    while time.monotonic() < deadline:
        found = False
        for pid in reversed(_children_of_self()):  # the newest last in the list: the live link
            stat = _stat(pid)
            if stat is None:
                continue
            with _CHILDREN_LOCK:
                if not _is_orphan_of(pid, stat, marker, sessions, root):
                    continue
            found = True
            if stat[2]:  # dead already: reap it, so its number and entry are not held
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
                continue
            _kill([pid])
            stopped.setdefault(pid, stat[3])
            sessions.add(stat[1])
        if not found:
            return any_found
        any_found = True
    return any_found


def _run_members(root: int, marker: str, sessions: Set[int]) -> Dict[int, _Stat]:
    """Every process of the run: the program and its descendants, the grader's
    children that are the run's orphans, and theirs.  Adds their sessions to ``sessions``.
    Walks down from them (``/proc/PID/task/*/children``), not through every process of the
    machine; where the kernel has no children files, through the whole process table."""
    table = None
    if not _has_children_files():
        table = _process_table()
        children: Dict[int, List[int]] = {}
        for pid, stat in table.items():
            children.setdefault(stat[0], []).append(pid)
    stat_of = table.get if table is not None else _stat
    children_of = (lambda pid: children.get(pid, ())) if table is not None else _children_of
    seeds = [root]
    with _CHILDREN_LOCK:
        for pid in children_of(os.getpid()):
            stat = stat_of(pid)
            if pid != root and stat is not None and _is_orphan_of(pid, stat, marker, sessions, root):
                seeds.append(pid)
    members: Dict[int, _Stat] = {}
    while seeds:
        pid = seeds.pop()
        if pid in members:
            continue
        stat = stat_of(pid)
        if stat is None:
            continue
        members[pid] = stat
        sessions.add(stat[1])
        seeds.extend(children_of(pid))
    return members


def _has_children_files() -> bool:
    return os.path.exists("/proc/self/task/%d/children" % os.getpid())


def _children_of(pid: int) -> List[int]:
    """The children of ``pid``, from each of its threads' children file."""
    found: List[int] = []
    try:
        for task in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/children" % (pid, task), "rb") as handle:
                    found.extend(int(child) for child in handle.read().split())
            except OSError:
                continue  # the thread ended meanwhile
    except (OSError, ValueError):
        pass  # the process ended meanwhile
    return found


def _is_orphan_of(pid: int, stat: _Stat, marker: str, sessions: Set[int], root: int) -> bool:
    """Whether ``pid``, a child of the grader, is an orphan of this run (not a child the grader
    started, not one it had before it became a subreaper, not another run's)."""
    if pid == root or _is_own_child(pid):
        return False
    before = _SUBREAPER.get(os.getpid()) or {}
    if before.get(pid) == stat[3]:
        return False
    run = _marker_of(pid)
    if run is not None:
        return run == marker
    # No marker (cleared, or a zombie's cannot be read): another run's if it is in the session
    # of another program the grader started; else this run's.
    return stat[1] in sessions or not _is_own_child(stat[1])


def _marker_of(pid: int) -> Optional[str]:
    prefix = (MARKER_VARIABLE + "=").encode()
    try:
        with open("/proc/%d/environ" % pid, "rb") as handle:
            environ = handle.read()
    except OSError:
        return None
    for item in environ.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix):].decode("ascii", "replace")
    return None


def _reap_orphans(pids: Dict[int, bytes], until: float = 0.0) -> None:
    """Collect the exit of those of ``pids`` (pid -> start time) that are dead children of the
    grader (inherited orphans: a subreaper must, else they pile up in a batch).  Only these:
    the exit status of the grader's own children belongs to their ``Popen``.  With ``until``,
    wait (bounded) for those still ending or on their way to us."""
    waiting = dict(pids)
    me = os.getpid()
    while waiting:
        for pid, started in list(waiting.items()):
            stat = _stat(pid)
            if stat is None or stat[3] != started:
                del waiting[pid]  # gone (reaped by its parent), or the number is another's now
                continue
            if stat[0] != me or not stat[2]:
                if not until:
                    del waiting[pid]
                continue
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            del waiting[pid]
        if not waiting or time.monotonic() > until:
            return
        time.sleep(0.002)


def _children_of_self() -> List[int]:
    """PIDs of this process's children (``/proc/self/task/*/children``, or a search of /proc)."""
    me = os.getpid()
    if _has_children_files():
        return _children_of(me)
    return [pid for pid, stat in _process_table().items() if stat[0] == me]


def _process_table() -> Dict[int, _Stat]:
    table = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return table
    for entry in entries:
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None:
                table[int(entry)] = stat
    return table


def _stat(pid: int) -> Optional[_Stat]:
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            data = handle.read()
        fields = data[data.rindex(b")") + 2:].split()
        # state ppid pgrp session ... starttime (the 22nd field of the line, 20th after the name)
        return int(fields[1]), int(fields[3]), fields[0] in (b"Z", b"X"), fields[19]
    except (OSError, ValueError, IndexError):
        return None


def namespace_pid(pid: int) -> Optional[int]:
    """The PID that ``pid`` has inside its PID namespace, when it is one level below ours
    (Linux; None otherwise)."""
    try:
        with open("/proc/%d/status" % pid, "rb") as handle:
            for line in handle:
                if line.startswith(b"NSpid:"):
                    fields = line.split()
                    return int(fields[2]) if len(fields) == 3 else None
    except (OSError, ValueError):
        pass
    return None


def _live(pids: List[int]) -> List[int]:
    return [p for p in pids if not _is_zombie(p)]


def _reap(process: subprocess.Popen, timeout: float) -> None:
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass


def _is_zombie(pid: int) -> bool:
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            stat = handle.read()
        return stat[stat.rindex(b")") + 2:][:1] == b"Z"
    except (OSError, ValueError):
        return True  # gone


class _WindowsJob:
    """A job object holding the program's process tree (Windows only)."""

    _EXTENDED_LIMIT_INFORMATION = 9
    _KILL_ON_JOB_CLOSE = 0x2000

    def __init__(self, process: subprocess.Popen):
        import ctypes
        from ctypes import wintypes

        class Basic(ctypes.Structure):
            _fields_ = [("PerProcessUserTimeLimit", ctypes.c_int64), ("PerJobUserTimeLimit", ctypes.c_int64),
                        ("LimitFlags", wintypes.DWORD), ("MinimumWorkingSetSize", ctypes.c_size_t),
                        ("MaximumWorkingSetSize", ctypes.c_size_t), ("ActiveProcessLimit", wintypes.DWORD),
                        ("Affinity", ctypes.c_size_t), ("PriorityClass", wintypes.DWORD),
                        ("SchedulingClass", wintypes.DWORD)]

        class Extended(ctypes.Structure):
            _fields_ = [("BasicLimitInformation", Basic), ("IoInfo", ctypes.c_uint64 * 6),
                        ("ProcessMemoryLimit", ctypes.c_size_t), ("JobMemoryLimit", ctypes.c_size_t),
                        ("PeakProcessMemoryUsed", ctypes.c_size_t), ("PeakJobMemoryUsed", ctypes.c_size_t)]

        self._kernel32 = kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        kernel32.CreateJobObjectW.restype = wintypes.HANDLE
        kernel32.CreateJobObjectW.argtypes = (ctypes.c_void_p, wintypes.LPCWSTR)
        kernel32.SetInformationJobObject.argtypes = (wintypes.HANDLE, ctypes.c_int, ctypes.c_void_p, wintypes.DWORD)
        kernel32.AssignProcessToJobObject.argtypes = (wintypes.HANDLE, wintypes.HANDLE)
        kernel32.TerminateJobObject.argtypes = (wintypes.HANDLE, wintypes.UINT)
        kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
        self._handle = kernel32.CreateJobObjectW(None, None)
        if not self._handle:
            raise ctypes.WinError(ctypes.get_last_error())
        info = Extended()
        info.BasicLimitInformation.LimitFlags = self._KILL_ON_JOB_CLOSE
        if not (kernel32.SetInformationJobObject(self._handle, self._EXTENDED_LIMIT_INFORMATION,
                                                 ctypes.byref(info), ctypes.sizeof(info))
                and kernel32.AssignProcessToJobObject(self._handle, int(process._handle))):
            error = ctypes.WinError(ctypes.get_last_error())
            kernel32.CloseHandle(self._handle)
            raise error

    def kill(self) -> None:
        """End every process in the job (once; closing the job kills any straggler too)."""
        if self._handle:
            self._kernel32.TerminateJobObject(self._handle, 1)
            self._kernel32.CloseHandle(self._handle)
            self._handle = None
