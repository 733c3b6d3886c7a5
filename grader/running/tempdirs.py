"""Every temporary folder the grader makes: named after its owner, removed whatever happened.

A folder is made by ``make`` in ``tempfile.gettempdir()`` and named
``grader-<pid>-<start>-<pidns>-<kind>-<random>``: the process that owns it, that process's start
time (so a PID the system has since reused is not taken for the owner) and its PID namespace (a
PID means nothing in another one).  A grader that is killed (SIGKILL, a power cut of the
terminal) cannot clean up, so the next one does: ``sweep_stale`` removes the folders whose owner
is gone, with one listing of the temporary directory.  It runs once per grader process, on its
first ``make`` (the start of a batch or of a single program's grading).

``remove`` deletes a folder whatever permissions a student's program set inside it (a
``chmod 000`` folder cannot be entered even by its owner, who may however make it enterable).
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import sys
import tempfile
import threading
from typing import Iterator, Optional, Tuple

PREFIX = "grader-"
_NAME = re.compile(r"grader-(\d+)-(\d+)-(\d+)-")
_ON_LINUX = sys.platform.startswith("linux")
_swept = False
_sweep_lock = threading.Lock()


def make(kind: str) -> str:
    """A new private folder (mode 0700) in the temporary directory, named after this process;
    ``kind`` says what it is for (``run``, ``batch``...).  The first call of a process sweeps
    the folders that killed graders left behind."""
    sweep_once()
    pid, start, namespace = _identity(os.getpid())
    return tempfile.mkdtemp(prefix=f"{PREFIX}{pid}-{start}-{namespace}-{kind}-")


@contextlib.contextmanager
def temporary(kind: str) -> Iterator[str]:
    """``make``, as a ``with`` block that removes the folder at its end."""
    path = make(kind)
    try:
        yield path
    finally:
        remove(path)


def sweep_once() -> None:
    global _swept
    with _sweep_lock:
        if _swept:
            return
        _swept = True
    sweep_stale()


def sweep_stale(base: Optional[str] = None) -> int:
    """Remove the grader folders in ``base`` (the temporary directory) whose owner process is
    gone; returns how many.  A folder whose owner cannot be judged is left alone: one made in
    another PID namespace, and (where there is no /proc to read start times) one whose PID is in
    use again."""
    if not _ON_LINUX and os.name != "posix":
        return 0  # no cheap and safe way to ask whether a process lives (os.kill would kill it)
    base = base or tempfile.gettempdir()
    try:
        names = os.listdir(base)
    except OSError:
        return 0
    removed = 0
    mine = _identity(os.getpid())
    for name in names:
        match = _NAME.match(name)
        if match is None or _owner_alive(match.groups(), mine):
            continue
        path = os.path.join(base, name)
        try:
            info = os.lstat(path)
        except OSError:
            continue
        # Only real folders (never a link someone put there), and ours unless we are root (as
        # root, a sandboxed run's folder belongs to nobody).
        if stat.S_ISDIR(info.st_mode) and _euid() in (0, info.st_uid):
            removed += remove(path)
    return removed


def _owner_alive(owner: Tuple[str, str, str], mine: Tuple[str, str, str]) -> bool:
    pid, start, namespace = owner
    if owner == mine:
        return True
    if namespace != mine[2]:
        return True  # a PID of another namespace: cannot tell, so never remove
    if _ON_LINUX:
        return _identity(int(pid)) == owner
    try:
        os.kill(int(pid), 0)  # POSIX without /proc: the PID alone (a reused one keeps the folder)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


_IDENTITIES: dict = {}


def _identity(pid: int) -> Tuple[str, str, str]:
    """(pid, start time, PID namespace) as written in folder names; "0" where unknown.  A
    process's own identity is read once."""
    if pid in _IDENTITIES:
        return _IDENTITIES[pid]
    start = namespace = "0"
    if _ON_LINUX:
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                # Field 22, start time in clock ticks since boot; the name in () may hold spaces.
                start = handle.read().rsplit(b")", 1)[1].split()[19].decode()
            namespace = os.readlink(f"/proc/{pid}/ns/pid").strip("pid:[]")
        except (OSError, IndexError, ValueError):
            pass
    identity = (str(pid), start, namespace)
    if pid == os.getpid():
        _IDENTITIES[pid] = identity
    return identity


def remove(path: str) -> bool:
    """Remove the folder ``path`` and everything in it, whatever permissions were set inside;
    True when it is gone.  Never follows a link out of it."""
    for _ in range(3):  # again after a failure: a dying program may still have added a file
        try:
            shutil.rmtree(path)
            return True
        except OSError:
            if not os.path.lexists(path):
                return True
            if _euid() != 0:  # root enters any folder: no chmod, which could meet a swapped link
                _make_enterable(path)
    return not os.path.lexists(path)


def _euid() -> int:
    return os.geteuid() if hasattr(os, "geteuid") else -1  # Windows: no such thing


def _make_enterable(path: str) -> None:
    """Give the owner rwx on every folder under ``path`` (as an owner may, whatever the mode),
    top-down so that each can then be listed; links are never followed."""
    stack = [path]
    while stack:
        folder = stack.pop()
        try:
            info = os.lstat(folder)
            if not stat.S_ISDIR(info.st_mode):
                continue
            if info.st_mode & 0o700 != 0o700:
                os.chmod(folder, stat.S_IMODE(info.st_mode) | 0o700)
            with os.scandir(folder) as entries:
                stack.extend(e.path for e in entries if e.is_dir(follow_symlinks=False))
        except OSError:
            continue
