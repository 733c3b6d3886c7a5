"""Starting a student's program under the probe, and nothing more.

Kept apart from the rest of the runner, and light to import, so the command line can start the
program first and load the judging half of the grader while the program's own interpreter
starts on another core.  The probe says hello and then waits for its configuration, so a
started program does nothing until a session adopts it (``runner.ProgramRun.start``).
"""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

from grader.running import processes, tempdirs
from grader.running.environment import program_environment
from grader.running.inputs import read_regular_file
from grader.running.limits import DiskWatch
from grader.running.probe import probe_script


# How many runs of a program a grading needs: a client also meets a reference server that sends
# another message (grading.py), so that printing a fixed text cannot pass.
RUNS = {"server": 1, "client": 2}

# The program runs in a copy of its own folder (its helper modules, data files), bounded: a
# folder is looked at to FOLDER_ENTRIES entries (a Downloads folder holds thousands) and copied
# to FOLDER_FILES files and folders, FOLDER_BYTES bytes, files of at most FILE_BYTES each; well
# under the run's own caps (grader/running/limits.py), so the program keeps room to write.
FOLDER_BYTES = 8 << 20
FOLDER_FILES = 200
FOLDER_ENTRIES = 2000
FOLDER_DEPTH = 8
FILE_BYTES = 1 << 20
# Never copied: caches, version control, environments, editor state (no program reads them).
_NOT_COPIED = frozenset(("__pycache__", ".git", ".hg", ".svn", ".venv", "venv", "node_modules",
                         ".idea", ".vscode", ".ipynb_checkpoints", "__MACOSX", ".DS_Store",
                         ".pytest_cache", ".mypy_cache", ".tox"))
# The README has students run the grader in its own folder, their programs beside it: what is
# the grader's there is not the program's folder (and would fill the caps at once).
_CHECKOUT = Path(__file__).resolve().parent.parent.parent
_CHECKOUT_ENTRIES = frozenset((".benchmarks", ".ci", ".github", ".gitignore", "README.md", "bench",
                               "docs", "grader", "pyproject.toml", "reference", "student_template",
                               "tests", "tools", "grader-results", "autograder.zip"))
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
# Where the system allows it, folders are read through descriptors opened without following
# links, so a folder swapped for a link during the copy cannot lead out of it.
_BY_FD = (os.scandir in os.supports_fd and os.open in os.supports_dir_fd
          and hasattr(os, "O_DIRECTORY") and _NOFOLLOW != 0)

# (uid, gid) that unsandboxed programs run as, when the grader runs as root (Gradescope:
# grader/integrations/gradescope/run.py); None: as the grader's own user.  The sandbox picks its own user.
RUN_AS = None


class StartedProgram:
    """A program started under the probe, waiting for a session to adopt it.

    Whoever starts one either hands it to a session, which then owns and cleans up everything,
    or calls ``discard()``.
    """

    def __init__(self, process, workdir: str, marker: str, event_fd: int,
                 control_fd: int, job: object, sandbox: object, started_at: float,
                 disk_watch: Optional[DiskWatch] = None, folder_notes: Tuple[str, ...] = ()):
        self.process = process  # a subprocess.Popen, or a grader.running.sandbox.ForkedProcess
        self.workdir = workdir
        self.marker = marker  # in the environment of the program and everything it starts
        self.event_fd = event_fd  # read end of the probe's event pipe
        self.control_fd = control_fd  # write end of the probe's control pipe
        self.job = job  # what processes.track returned
        self.sandbox = sandbox  # a grader.running.sandbox.Sandbox, or None
        self.started_at = started_at
        # Unsandboxed: the watch on the directory's size (grader/running/limits.py); its ``exceeded``
        # says why it stopped the program.  Sandboxed: None, a full tmpfs is the program's error.
        self.disk_watch = disk_watch
        # What of the program's folder was left out of its copy, as sentences for the report.
        self.folder_notes = folder_notes
        self.adopted = False

    def discard(self) -> None:
        """Stop and clean up a program no session adopted (a no-op once adopted)."""
        if self.adopted:
            return
        self.adopted = True
        if self.disk_watch is not None:
            self.disk_watch.stop()
        processes.kill_tree(self.process, self.marker, job=self.job)
        for fd in (self.event_fd, self.control_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        for pipe in (self.process.stdout, self.process.stderr):
            pipe.close()
        if self.sandbox is not None:
            self.sandbox.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_program(source: Path, sandbox: bool = False, folder: Optional[Path] = None) -> StartedProgram:
    """Start ``source`` under the probe, from a copy in a fresh temporary folder, with stdin
    closed and stdout/stderr on pipes.  ``sandbox``: in its own namespaces (grader/running/sandbox.py;
    check ``grader.running.sandbox.available()`` first).  The folder also holds a bounded copy of
    ``folder`` (default: the one ``source`` is in; ``copy_folder``), with ``source`` at its top
    in place of the file of that name."""
    workdir = tempdirs.make("run")
    target = os.path.join(workdir, Path(source).name)
    event_r = event_w = control_r = control_w = None
    box = None
    try:
        shutil.copyfile(source, target)
        folder = Path(source).parent if folder is None else Path(folder)
        skip = {Path(source).name}
        if os.path.realpath(folder) == str(_CHECKOUT):
            skip |= _CHECKOUT_ENTRIES
        folder_notes = copy_folder(folder, workdir, skip)
        event_r, event_w = os.pipe()
        control_r, control_w = os.pipe()
        handles = [_inheritable_handle(fd) for fd in (event_w, control_r)]
        marker = os.urandom(16).hex()
        env = program_environment(workdir, "%d %d" % tuple(handles), marker)
        # -S: the probe sets up site-packages itself, without the machine's .pth hooks.
        argv = [sys.executable, "-S", "-u", probe_script(), target]
        if sandbox:
            from grader.running.sandbox import Sandbox  # Linux only, and only when asked for

            box = Sandbox(workdir)
            process = box.start(argv, env, handles)  # in the run's directory, stdin closed
        else:
            identity = {}
            if RUN_AS is not None:  # the run's directory becomes the program's; nothing else
                uid, gid = RUN_AS
                for base, dirs, files in os.walk(workdir):
                    for name in [base] + [os.path.join(base, n) for n in dirs + files]:
                        os.chown(name, uid, gid)
                identity = {"user": uid, "group": gid, "extra_groups": []}
            with processes.spawning() as register:
                process = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    cwd=workdir, env=env, **processes.popen_kwargs(handles), **identity)
                register(process)
            # Its orphans come to us, not to init (once per grader).  After the start, which it
            # would only delay: the probe runs no student code before the grader configures it.
            processes.become_subreaper()
    except BaseException:
        for fd in (event_r, event_w, control_r, control_w):
            if fd is not None:
                os.close(fd)
        if box is not None:
            box.close()
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    job = processes.track(process)
    for fd in (event_w, control_r):
        os.close(fd)  # the child's ends
    watch = None
    if box is None:  # the sandbox caps the directory itself (a tmpfs)
        # Only while the program is not reaped: after that its number may be another's.
        watch = DiskWatch(workdir, lambda: process.returncode is None and processes.kill_group(process))
        watch.start()
    return StartedProgram(process, workdir, marker, event_r, control_w, job, box, time.monotonic(),
                          watch, folder_notes)


def copy_folder(folder: Path, workdir: str, skip: Iterable[str] = ()) -> Tuple[str, ...]:
    """Copy the regular files and folders of ``folder`` into ``workdir``, except the names in
    ``skip`` at its top (the program, copied already), breadth first (what sits next to the program comes
    first), never through a link, within the FOLDER_* caps.  Returns what was left out, as
    sentences for the report; () when nothing was.  A folder that cannot be read is no error:
    the program then runs alone, as it did before folders were copied."""
    skip = frozenset(skip)
    budget = {"entries": FOLDER_ENTRIES, "files": FOLDER_FILES, "bytes": FOLDER_BYTES}
    large: List[str] = []
    links: List[str] = []
    cut = False
    try:
        top = _open_folder(str(folder), follow=True)
    except OSError:
        return ()
    pending = [(top, "", 0)]  # (folder handle, its path under workdir, depth)
    try:
        while pending:
            handle, relative, depth = pending[0]
            try:
                entries = _list_folder(handle, budget)
            except OSError:
                entries = []
            if budget["entries"] < 0:
                cut = True
            for entry in entries:
                name = entry.name
                if name in _NOT_COPIED or (not relative and name in skip):
                    continue
                shown = relative + name
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISLNK(info.st_mode):
                    links.append(shown)
                elif stat.S_ISDIR(info.st_mode) and depth < FOLDER_DEPTH:
                    if budget["files"] <= 0:
                        cut = True
                        continue
                    try:
                        os.mkdir(os.path.join(workdir, shown))
                        child = _open_folder(name, handle) if _BY_FD else _open_folder(entry.path)
                    except OSError:
                        continue
                    budget["files"] -= 1
                    pending.append((child, shown + os.sep, depth + 1))
                elif stat.S_ISREG(info.st_mode):
                    if info.st_size > FILE_BYTES:
                        large.append(shown)
                    elif budget["files"] <= 0 or info.st_size > budget["bytes"]:
                        cut = True
                    else:
                        budget["files"] -= 1
                        budget["bytes"] -= _copy_file(name, entry.path, handle, os.path.join(workdir, shown))
            _close_folder(pending.pop(0)[0])
    finally:
        for handle, _, _ in pending:
            _close_folder(handle)
    return _left_out(large, links, cut)


def _open_folder(path: str, parent: Optional[int] = None, follow: bool = False):
    """A handle on a folder: where folders are read by descriptor, one opened (in ``parent``)
    without following a link; else its path, refused when it is a link.  ``follow``: the top
    folder, which the user named, may be reached through a link."""
    if _BY_FD:
        flags = os.O_RDONLY | os.O_DIRECTORY | (0 if follow else _NOFOLLOW)
        return os.open(path, flags, dir_fd=parent)
    if not follow and os.path.islink(path):
        raise OSError("%s is a link" % path)
    return path


def _close_folder(handle) -> None:
    if isinstance(handle, int):
        os.close(handle)


def _list_folder(handle, budget: Dict[str, int]) -> list:
    """The entries of a folder, sorted, up to what is left of the entries budget (a folder of
    100,000 files is not listed to its end)."""
    entries = []
    with os.scandir(handle) as scan:
        for entry in scan:
            budget["entries"] -= 1
            if budget["entries"] < 0:
                break
            entries.append(entry)
    return sorted(entries, key=lambda e: e.name)


def _copy_file(name: str, path: str, handle, target: str) -> int:
    """Copy a regular file (checked on the opened file itself: no link, no pipe) of at most
    FILE_BYTES; returns the bytes copied (0 when it could not be)."""
    try:
        data = read_regular_file(name, FILE_BYTES, follow=False, dir_fd=handle) if _BY_FD else \
            read_regular_file(path, FILE_BYTES, follow=False)
        if data is None:
            return 0
        with open(target, "wb") as writing:
            writing.write(data)
    except OSError:
        return 0
    return len(data)


def _left_out(large: List[str], links: List[str], cut: bool) -> Tuple[str, ...]:
    def some(names: List[str]) -> str:
        shown = ", ".join(names[:3])
        return shown + (" and %d more" % (len(names) - 3) if len(names) > 3 else "")

    notes = []
    if large:
        notes.append("your program ran in a copy of its folder without %s: files over %d MB are "
                     "not copied" % (some(large), FILE_BYTES >> 20))
    if links:
        notes.append("your program ran in a copy of its folder without %s: links are not copied; "
                     "put the file itself in the folder" % some(links))
    if cut:
        notes.append("your program's folder holds more than the grader copies (%d files, %d MB): "
                     "your program ran with part of it; keep only the lab's files in the folder"
                     % (FOLDER_FILES, FOLDER_BYTES >> 20))
    return tuple(notes)


def _inheritable_handle(fd: int) -> int:
    if processes.IS_WINDOWS:
        import msvcrt
        handle = msvcrt.get_osfhandle(fd)
        os.set_handle_inheritable(handle, True)
        return handle
    return fd
