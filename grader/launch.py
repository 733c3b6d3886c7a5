"""Starting a student's program under the probe, and nothing more.

Kept apart from the rest of the runner, and light to import, so the command line can start the
program first and load the judging half of the grader while the program's own interpreter
starts on another core.  The probe says hello and then waits for its configuration, so a
started program does nothing until a session adopts it (``runner.ProgramRun.start``).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, Optional

from grader import processes, tempdirs
from grader.limits import DiskWatch

BOOTSTRAP = str(Path(__file__).resolve().parent / "probe" / "bootstrap.py")

# How many runs of a program a grading needs: a client also meets a reference server that sends
# another message (grading.py), so that printing a fixed text cannot pass.
RUNS = {"server": 1, "client": 2}

_COMPILED: Dict[str, Optional[str]] = {}  # source file -> its compiled copy (None: could not)
_COMPILED_LOCK = threading.Lock()

# What of the grader's environment a program gets: what its interpreter needs to start (PATH,
# the loader's path, on Windows what the C runtime and sockets need), the locale, and the test
# suite's own markers.  Nothing else of the TA's (tokens, cloud keys), and no PYTHON* variable:
# the interpreter is sys.executable, which finds its installation and a venv (pyvenv.cfg) by
# itself.  Names are compared in upper case (Windows spells them as it likes).
_KEPT_VARIABLES = frozenset(("PATH", "LANG", "LANGUAGE", "TZ", "LD_LIBRARY_PATH", "SYSTEMROOT",
                             "SYSTEMDRIVE", "WINDIR", "COMSPEC", "PATHEXT", "PROCESSOR_ARCHITECTURE"))
_KEPT_PREFIXES = ("LC_", "GRADER_TEST_")

# (uid, gid) that unsandboxed programs run as, when the grader runs as root (Gradescope:
# grader/gradescope/run.py); None: as the grader's own user.  The sandbox picks its own user.
RUN_AS = None


class StartedProgram:
    """A program started under the probe, waiting for a session to adopt it.

    Whoever starts one either hands it to a session, which then owns and cleans up everything,
    or calls ``discard()``.
    """

    def __init__(self, process, workdir: str, marker: str, event_fd: int,
                 control_fd: int, job: object, sandbox: object, started_at: float,
                 disk_watch: Optional[DiskWatch] = None):
        self.process = process  # a subprocess.Popen, or a grader.sandbox.ForkedProcess
        self.workdir = workdir
        self.marker = marker  # in the environment of the program and everything it starts
        self.event_fd = event_fd  # read end of the probe's event pipe
        self.control_fd = control_fd  # write end of the probe's control pipe
        self.job = job  # what processes.track returned
        self.sandbox = sandbox  # a grader.sandbox.Sandbox, or None
        self.started_at = started_at
        # Unsandboxed: the watch on the directory's size (grader/limits.py); its ``exceeded``
        # says why it stopped the program.  Sandboxed: None, a full tmpfs is the program's error.
        self.disk_watch = disk_watch
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


def start_program(source: Path, sandbox: bool = False) -> StartedProgram:
    """Start ``source`` under the probe, from a copy in a fresh temporary folder, with stdin
    closed and stdout/stderr on pipes.  ``sandbox``: in its own namespaces (grader/sandbox.py;
    check ``grader.sandbox.available()`` first)."""
    workdir = tempdirs.make("run")
    target = os.path.join(workdir, Path(source).name)
    event_r = event_w = control_r = control_w = None
    box = None
    try:
        shutil.copyfile(source, target)
        event_r, event_w = os.pipe()
        control_r, control_w = os.pipe()
        handles = [_inheritable_handle(fd) for fd in (event_w, control_r)]
        marker = os.urandom(16).hex()
        env = program_environment(workdir, "%d %d" % tuple(handles), marker)
        # -S: the probe sets up site-packages itself, without the machine's .pth hooks.
        argv = [sys.executable, "-S", "-u", probe_script(), target]
        if sandbox:
            from grader.sandbox import Sandbox  # Linux only, and only when asked for

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
                          watch)


def base_environment() -> Dict[str, str]:
    """The part of the grader's environment every program gets (``_KEPT_VARIABLES``)."""
    return {name: value for name, value in os.environ.items()
            if name.upper() in _KEPT_VARIABLES or name.upper().startswith(_KEPT_PREFIXES)}


def program_environment(workdir: str, probe_channel: str, marker: str) -> Dict[str, str]:
    """A program's whole environment: ``base_environment()``, its own directory as home and
    temporary folder, and the probe's variables."""
    env = base_environment()
    for name in (("USERPROFILE", "TEMP", "TMP") if processes.IS_WINDOWS else ("HOME", "TMPDIR")):
        env[name] = workdir
    env.update({
        "PYTHONUNBUFFERED": "1",
        "PYTHONIOENCODING": "utf-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "GRADER_PROBE": probe_channel,  # the event and control pipes
        processes.MARKER_VARIABLE: marker,
    })
    return env


def _inheritable_handle(fd: int) -> int:
    if processes.IS_WINDOWS:
        import msvcrt
        handle = msvcrt.get_osfhandle(fd)
        os.set_handle_inheritable(handle, True)
        return handle
    return fd


def compile_probe() -> None:
    """For a process that starts many programs (batch mode): compile the probe once, and run
    the programs started from then on under the compiled copy instead of each compiling its
    600 lines again (about 9 ms of CPU per program here).  Not worth it for one program."""
    compiled(BOOTSTRAP)


def probe_script() -> str:
    """The file the program's interpreter runs: the probe's compiled copy when there is one."""
    return _COMPILED.get(BOOTSTRAP) or BOOTSTRAP


def compiled(source: str) -> Optional[str]:
    """``source`` compiled, once per grader process, into a private temporary folder that is
    removed at exit (``python FILE.pyc`` runs compiled code as it is); None if that cannot be
    done, e.g. on a full disk: then run the source."""
    with _COMPILED_LOCK:
        if source not in _COMPILED:
            _COMPILED[source] = _compile(source)
        return _COMPILED[source]


def _compile(source: str) -> Optional[str]:
    import atexit
    import py_compile

    folder = None
    try:
        folder = tempdirs.make("compiled")
        target = os.path.join(folder, os.path.splitext(os.path.basename(source))[0] + ".pyc")
        target = py_compile.compile(source, cfile=target, doraise=True)
        # Readable by all, like the source: a sandboxed program runs as another user (nobody).
        os.chmod(folder, 0o755)
        os.chmod(target, 0o644)
    except (OSError, py_compile.PyCompileError):
        if folder:
            shutil.rmtree(folder, ignore_errors=True)
        return None
    atexit.register(shutil.rmtree, folder, True)
    return target
