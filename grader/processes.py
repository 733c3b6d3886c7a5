"""Starting and stopping a student's process tree: all the per-OS code lives here.

Every process a grading starts carries a marker in its environment (``GRADER_RUN_ID``).  On Linux
that finds descendants that left the process group or the session (double fork, ``setsid``):
they keep the environment they inherited.  Elsewhere on POSIX the process group is what we can
reach; on Windows a job object (``track``) and ``taskkill /T`` take the tree.  A program that
clears its environment *and* leaves its session escapes the marker: only ``--sandbox`` (a PID
namespace, ``grader/sandbox.py``) closes that gap.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence

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
    ``grader.sandbox.ForkedProcess``."""
    if IS_WINDOWS:
        if isinstance(job, _WindowsJob):
            job.kill()
        if process.poll() is None:
            subprocess.run(["taskkill", "/F", "/T", "/PID", str(process.pid)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        _reap(process, timeout)
        return []
    # Counted before any signal, so the number is what was running, not what a race left (and
    # ``is_wrapper`` asked while the processes still exist).
    running = [p for p in _live(marked_pids(marker)) if not is_wrapper(p)] if IS_LINUX else []
    if isinstance(process, subprocess.Popen):  # a sandbox's process ends its namespace by kill()
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            pass
    if process.poll() is None:
        try:
            process.kill()
        except OSError:
            pass
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
    return [p for p in running if p != process.pid]


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


def owns_listening_socket(pids: Sequence[int], port: int, ipv6: bool = False) -> Optional[bool]:
    """Whether one of ``pids`` holds the TCP socket listening on ``port`` in our network
    namespace.  None where this cannot be told (not Linux, or /proc unreadable).

    The probe's events are the program's own word; this asks the kernel instead, so a program
    cannot point the reference client at someone else's server.
    """
    if not IS_LINUX:
        return None
    inodes = set()
    try:
        with open("/proc/net/tcp6" if ipv6 else "/proc/net/tcp") as table:
            next(table, None)
            for line in table:
                fields = line.split()
                # local_address is HEXIP:HEXPORT, state 0A is LISTEN, then the socket's inode
                if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add("socket:[%s]" % fields[9])
    except (OSError, ValueError):
        return None
    if not inodes:
        return False
    for pid in pids:
        try:
            fds = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) in inodes:
                    return True
            except OSError:
                continue
    return False


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
