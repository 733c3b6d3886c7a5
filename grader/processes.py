"""Starting and stopping a student's process tree: all the per-OS code lives here.

Every process a grading starts carries a marker in its environment (``GRADER_RUN_ID``).  On Linux
that finds descendants that left the process group or the session (double fork, ``setsid``):
they keep the environment they inherited.  Elsewhere on POSIX the process group is what we can
reach; on Windows a console process group and ``taskkill /T`` take the tree.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Dict, List, Sequence

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


def kill_tree(process: subprocess.Popen, marker: str, timeout: float = 5.0) -> List[int]:
    """Kill the program and everything it started; returns the PIDs that had to be killed
    besides the program itself.  Waits (bounded) until they are gone."""
    extra: List[int] = []
    if IS_WINDOWS:
        if process.poll() is None:
            subprocess.run(["taskkill", "/F", "/T", "/PID", str(process.pid)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        _reap(process, timeout)
        return extra
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
        pids = marked_pids(marker)
        pids = [p for p in pids if not _is_zombie(p)]
        if not pids or time.monotonic() > deadline:
            break
        extra.extend(p for p in pids if p not in extra)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.01)
    return extra


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
