"""What keeps a Gradescope grade out of the student's reach (Linux, POSIX).

Inside Gradescope everything runs as root.  ``run.py`` grades in a child process and keeps this
process (the *supervisor*) apart: student programs run as an unprivileged user, so they cannot
signal, trace or write anything of root's.  When grading is over the supervisor stops every
process of that user and every process left under it, then writes ``results.json`` itself, into
a folder only root can write.
"""
from __future__ import annotations

import ctypes
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional, Set, Tuple

IS_LINUX = sys.platform.startswith("linux")
_PR_SET_CHILD_SUBREAPER = 36
_PR_GET_CHILD_SUBREAPER = 37

Identity = Tuple[int, int]  # (uid, gid) the student's programs run as


def lock_down(results: Path, as_root: bool) -> None:
    """Make ``results`` a real folder, owned by root and writable by root only when ``as_root``,
    with no results file in it yet (what is there when grading ends is ours or nothing)."""
    if results.is_symlink() or (results.exists() and not results.is_dir()):
        results.unlink()
    results.mkdir(parents=True, exist_ok=True)
    if as_root:
        for folder in (results.parent, results):  # whoever can write the parent can swap results/
            info = os.lstat(folder)
            if info.st_uid != 0 or info.st_gid != 0:
                os.chown(folder, 0, 0, follow_symlinks=False)
            if info.st_mode & 0o022:
                os.chmod(folder, info.st_mode & ~0o022 & 0o7777)
    for entry in results.iterdir():
        if entry.name == "results.json" or entry.name.startswith(".results-"):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def write_atomically(results: Path, data: bytes) -> Path:
    """Write ``results/results.json`` as a whole or not at all: a fresh file (never a link a
    program planted) renamed over the old name (a rename replaces a link, it never follows it)."""
    fd, temp = tempfile.mkstemp(dir=results, prefix=".results-", suffix=".json")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), 0o644)
            os.fsync(handle.fileno())
        target = results / "results.json"
        os.replace(temp, target)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    return target


def _libc():
    return ctypes.CDLL(None, use_errno=True)


class Reaper:
    """This process as the child subreaper (Linux): whatever the grading leaves behind (double
    forks, ``setsid`` daemons, a program whose parent was killed) becomes our child, so it can
    be found and stopped even when it runs as our own user.  ``release`` restores the setting."""

    def __init__(self) -> None:
        self.me = os.getpid()
        self.before = set(_children(self.me))  # not ours to stop (a test runner's own children)
        self._previous: Optional[int] = None
        if IS_LINUX:
            try:
                libc = _libc()
                value = ctypes.c_int(0)
                if libc.prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(value), 0, 0, 0) == 0 and \
                        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0:
                    self._previous = value.value
            except (OSError, AttributeError):
                pass

    def orphans(self) -> List[int]:
        return [p for p in _children(self.me) if p not in self.before]

    def release(self) -> None:
        if self._previous is not None:
            _libc().prctl(_PR_SET_CHILD_SUBREAPER, self._previous, 0, 0, 0)
            self._previous = None


def _stat(pid: str) -> Optional[Tuple[str, int, int]]:
    """(state, parent pid, process group) of ``pid``, None when it is gone."""
    try:
        with open("/proc/%s/stat" % pid, "rb") as handle:
            fields = handle.read().rpartition(b")")[2].split()
        return fields[0].decode(), int(fields[1]), int(fields[2])
    except (OSError, IndexError, ValueError):
        return None


def _pids() -> List[str]:
    try:
        return [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return []


def _children(parent: int) -> List[int]:
    if not IS_LINUX:
        return []
    found = []
    for pid in _pids():
        info = _stat(pid)
        if info is not None and info[1] == parent:
            found.append(int(pid))
    return found


def processes_of(uid: int) -> List[int]:
    """Live (not zombie) processes whose real, effective or saved user is ``uid`` (Linux)."""
    found = []
    for pid in _pids():
        try:
            with open("/proc/%s/status" % pid, "rb") as handle:
                lines = handle.read().splitlines()
        except OSError:
            continue
        uids, zombie = [], False
        for line in lines:
            if line.startswith(b"Uid:"):
                uids = [int(v) for v in line.split()[1:4]]
            elif line.startswith(b"State:"):
                zombie = b"Z" in line.split()[1:2]
        if uid in uids and not zombie:
            found.append(int(pid))
    return found


def _kill_all_as(identity: Identity) -> None:
    """``kill(-1, SIGKILL)`` from a helper that has become the student's user: the kernel then
    kills every process of that user at once, while no new one can be forked (one pass, so a
    fork loop cannot outrun it the way it can outrun a scan of /proc)."""
    uid, gid = identity
    helper = os.fork()
    if helper == 0:  # pragma: no cover - runs in the forked helper
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(helper, 0)


def stop_everything(identity: Optional[Identity], reaper: Optional[Reaper],
                    timeout: float = 5.0) -> Tuple[int, int]:
    """Stop every process of the student's user (``identity``, when we are root) and every
    process left under this one (``reaper``); returns (how many were stopped, how many were
    still running at the timeout: 0 unless something could not be killed)."""
    stopped: Set[int] = set()
    deadline = time.monotonic() + timeout
    ours = os.getpgrp()
    while True:
        orphans = reaper.orphans() if reaper else []
        users = processes_of(identity[0]) if identity and IS_LINUX else []
        live = [p for p in orphans if (_stat(str(p)) or ("Z",))[0] != "Z"] + users
        if not live:
            break
        if time.monotonic() > deadline:
            return len(stopped), len(live)
        stopped.update(live)
        if users:
            _kill_all_as(identity)
        for pid in set(live):
            info = _stat(str(pid))
            try:
                if info is not None and info[2] not in (ours, 0):
                    os.killpg(info[2], signal.SIGKILL)  # its group too: reached in one call
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for pid in orphans:  # ours now: collect them, or they stay zombies
            try:
                os.waitpid(pid, os.WNOHANG)
            except OSError:
                pass
        time.sleep(0.005)
    for pid in reaper.orphans() if reaper else []:
        try:
            os.waitpid(pid, os.WNOHANG)
        except OSError:
            pass
    return len(stopped), 0
