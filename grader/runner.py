"""One run of a student's file under the probe: start, talk to the probe, capture, stop.

The program runs as ``python -u probe/bootstrap.py FILE`` in a fresh temporary directory holding
a copy of its file, with stdin closed and stdout/stderr captured up to a limit (the rest is
counted and dropped, so an endless print loop costs no memory).  Probe events arrive on a pipe and
are handed to ``on_event`` in the order the program produced them.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

from grader import processes

BOOTSTRAP = str(Path(__file__).resolve().parent / "probe" / "bootstrap.py")
MAX_EVENTS = 50_000  # events kept per run; a program can write garbage into its channel
_CHUNK = 65536

# Variables that would change how the student's interpreter starts; a grading must not depend
# on the grader's own environment.
_DROPPED_VARIABLES = ("PYTHONINSPECT", "PYTHONSTARTUP", "PYTHONBREAKPOINT", "PYTHONHOME")


@dataclass(frozen=True)
class CapturedStream:
    text: str
    dropped: int  # bytes beyond the capture limit, counted and discarded


@dataclass(frozen=True)
class RunOutput:
    stdout: CapturedStream
    stderr: CapturedStream
    exit_status: Optional[int]  # None when it had to be killed
    killed_descendants: int  # processes besides the program that had to be stopped
    bad_event_lines: int  # lines on the probe channel that were not valid events


class _StreamCapture(threading.Thread):
    def __init__(self, pipe, limit: int):
        super().__init__(daemon=True)
        self.pipe = pipe
        self.limit = limit
        self.chunks: List[bytes] = []
        self.kept = 0
        self.dropped = 0

    def run(self) -> None:
        try:
            while True:
                chunk = self.pipe.read1(_CHUNK) if hasattr(self.pipe, "read1") else self.pipe.read(_CHUNK)
                if not chunk:
                    break
                room = self.limit - self.kept
                if room > 0:
                    self.chunks.append(chunk[:room])
                    self.kept += min(room, len(chunk))
                self.dropped += max(0, len(chunk) - max(room, 0))
        except (OSError, ValueError):
            pass

    def result(self) -> CapturedStream:
        return CapturedStream(b"".join(self.chunks).decode("utf-8", "replace"), self.dropped)


class _EventReader(threading.Thread):
    def __init__(self, fd: int, on_event: Callable[[Dict], None]):
        super().__init__(daemon=True)
        self.file = os.fdopen(fd, "rb")
        self.on_event = on_event
        self.count = 0
        self.bad_lines = 0

    def run(self) -> None:
        try:
            for line in self.file:
                try:
                    event = json.loads(line)
                    if not isinstance(event, dict) or not isinstance(event.get("kind"), str):
                        raise ValueError(line)
                except ValueError:
                    self.bad_lines += 1
                    continue
                self.count += 1
                if self.count <= MAX_EVENTS:
                    self.on_event(event)
        except (OSError, ValueError):
            pass
        finally:
            self.file.close()


class ProgramRun:
    """A student's program running under the probe.  Use ``start``, then ``stop``, then
    ``finish`` (which always cleans up: processes, pipes, temporary directory)."""

    def __init__(self, source: Path, on_event: Callable[[Dict], None], *, output_limit: int = 1 << 20):
        self.source = Path(source)
        self.on_event = on_event
        self.output_limit = output_limit
        self.marker = uuid.uuid4().hex
        self.process: Optional[subprocess.Popen] = None
        self.workdir: Optional[str] = None
        self.started_at = 0.0
        self._control_fd: Optional[int] = None
        self._readers: List[threading.Thread] = []
        self._killed_descendants: List[int] = []
        self._lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self.workdir = tempfile.mkdtemp(prefix="grader-run-")
        target = os.path.join(self.workdir, self.source.name)
        shutil.copyfile(self.source, target)
        event_r, event_w = os.pipe()
        control_r, control_w = os.pipe()
        child_ends = [event_w, control_r]
        handles = [self._inheritable_handle(fd) for fd in child_ends]
        env = dict(os.environ)
        for name in _DROPPED_VARIABLES:
            env.pop(name, None)
        env.update({
            "PYTHONUNBUFFERED": "1",
            "PYTHONIOENCODING": "utf-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "GRADER_PROBE": json.dumps({"event": handles[0], "control": handles[1]}),
            processes.MARKER_VARIABLE: self.marker,
        })
        argv = [sys.executable, "-u", BOOTSTRAP, target]
        try:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                cwd=self.workdir, env=env, **processes.popen_kwargs(handles))
        except BaseException:
            for fd in (event_r, event_w, control_r, control_w):
                os.close(fd)
            shutil.rmtree(self.workdir, ignore_errors=True)
            raise
        self.started_at = time.monotonic()
        for fd in child_ends:
            os.close(fd)
        self._control_fd = control_w
        self._stdout = _StreamCapture(self.process.stdout, self.output_limit)
        self._stderr = _StreamCapture(self.process.stderr, self.output_limit)
        self._events = _EventReader(event_r, self.on_event)
        self._readers = [self._stdout, self._stderr, self._events]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _inheritable_handle(fd: int) -> int:
        if processes.IS_WINDOWS:
            import msvcrt
            handle = msvcrt.get_osfhandle(fd)
            os.set_handle_inheritable(handle, True)
            return handle
        return fd

    def send(self, message: Dict) -> None:
        """One line to the probe (configuration, release).  A gone program is not an error."""
        with self._lock:
            if self._control_fd is None:
                return
            try:
                os.write(self._control_fd, (json.dumps(message) + "\n").encode())
            except OSError:
                pass

    def release(self) -> None:
        """Let a held program exit."""
        self.send({"release": True})
        with self._lock:
            if self._control_fd is not None:
                os.close(self._control_fd)
                self._control_fd = None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait(self, timeout: float) -> Optional[int]:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        """Stop the program and every process it started."""
        if self.process is not None:
            self._killed_descendants = processes.kill_tree(self.process, self.marker)

    def finish(self, reader_timeout: float = 2.0) -> RunOutput:
        """Stop everything that is left, collect the output, remove the directory."""
        self.stop()
        self.release()
        for reader in self._readers:
            reader.join(reader_timeout)
        status = self.process.returncode if self.process else None
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        return RunOutput(
            stdout=self._stdout.result(), stderr=self._stderr.result(),
            exit_status=status, killed_descendants=len(self._killed_descendants),
            bad_event_lines=self._events.bad_lines,
        )
