"""One run of a student's file under the probe: start, talk to the probe, capture, stop.

The program is started by ``grader.running.launch`` (``python -S -u probe/bootstrap.py FILE`` in a fresh
temporary directory holding a copy of its file, stdin closed); stdout/stderr are captured up to
a limit (the rest is counted and dropped, so an endless print loop costs no memory).  Probe
events arrive on a pipe and are handed to ``on_event`` in the order the program produced them.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple

from grader.running import events, kernel, processes, tempdirs
from grader.running.launch import StartedProgram, start_program
from grader.running.peers import plain_socket

# What the probe sends is bounded (about 20,000 events, 1 MiB of console text and 1 MiB of
# payload); the program can write into its channel too, so the grader keeps no more than that.
MAX_EVENTS = 25_000
# A line longer than the probe ever writes (64 Ki characters of console text, escaped) is
# dropped, and past a total only the end-of-program events are kept, and only so many of them.
MAX_EVENT_LINE = 1 << 20
MAX_EVENT_BYTES = 16 << 20
_ALWAYS_KEPT = ("hello", "finished", "exception", "syntax_error", "tamper")
_ALWAYS_KEPT_BYTES = tuple(('"%s"' % kind).encode() for kind in _ALWAYS_KEPT)
_MAX_ALWAYS_KEPT = 64
_CHUNK = 65536
# Seconds a sandboxed program's init has to end its namespace when asked (it takes milliseconds).
_END_TIMEOUT = 5.0


class CapturedStream(NamedTuple):
    text: str
    dropped: int  # bytes beyond the capture limit, counted and discarded


class RunOutput(NamedTuple):
    stdout: CapturedStream
    stderr: CapturedStream
    exit_status: Optional[int]  # None when it had to be killed
    killed_descendants: int  # processes besides the program that had to be stopped
    bad_event_lines: int  # lines on the probe channel that were not the probe's events
    # What the event channel showed of other code writing into it, in plain words.
    interference: Tuple[str, ...] = ()
    # Why the disk watch stopped the program ("wrote more than 64 MB in its folder"), or "".
    disk_exceeded: str = ""
    # What of the program's folder was not copied into its run folder (launch.copy_folder).
    folder_notes: Tuple[str, ...] = ()


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
    """Reads the probe's channel.  The first line is the probe's hello (the program's code
    cannot run before the grader has answered it); every later line must start with the key
    the grader sent in the configuration, and have the shape of a probe event
    (``grader.running.events``).  Other lines are counted, never parsed further, and never reach the
    checks: they are the program writing into the grader's channel."""

    def __init__(self, fd: int, on_event: Callable[[Dict], None], key: str):
        super().__init__(daemon=True)
        self.file = os.fdopen(fd, "rb")
        self.on_event = on_event
        self.prefix = ('{"k": "%s", ' % key).encode()
        self.count = 0
        self.bad_lines = 0
        self.unsigned = 0  # lines without the key
        self.malformed = 0  # lines with the key that are not probe events
        self.first_malformed = ""

    def run(self) -> None:
        kept = always_kept = 0
        first = True
        try:
            while True:
                line = self.file.readline(MAX_EVENT_LINE)
                if not line:
                    break
                if not line.endswith(b"\n") and len(line) == MAX_EVENT_LINE:
                    self._refuse("malformed", "a line longer than the probe writes")
                    while line and not line.endswith(b"\n"):  # skip the rest, a bounded piece at a time
                        line = self.file.readline(MAX_EVENT_LINE)
                    continue
                if first:
                    body, first = line, False
                elif line.startswith(self.prefix):
                    body = b"{" + line[len(self.prefix):]
                else:
                    self._refuse("unsigned", "")
                    continue
                kept += len(line)
                over = self.count >= MAX_EVENTS or kept > MAX_EVENT_BYTES
                if over and (len(line) > 4096 or always_kept >= _MAX_ALWAYS_KEPT
                             or not any(k in line for k in _ALWAYS_KEPT_BYTES)):
                    self.count += 1
                    continue  # past the budget only the end of the program still counts
                try:
                    event = json.loads(body)
                except ValueError:
                    self._refuse("malformed", "a line that is not JSON")
                    continue
                reason = events.problem(event)
                if reason is None and self.count == 0 and event["kind"] != "hello":
                    reason = "the first event is not the probe's hello"
                if reason is not None:
                    self._refuse("malformed", reason)
                    continue
                self.count += 1
                if over:
                    if event["kind"] not in _ALWAYS_KEPT:
                        continue
                    always_kept += 1
                self.on_event(event)
        except (OSError, ValueError):
            pass
        finally:
            self.file.close()

    def _refuse(self, what: str, reason: str) -> None:
        self.bad_lines += 1
        setattr(self, what, getattr(self, what) + 1)
        if what == "malformed" and not self.first_malformed:
            self.first_malformed = reason

    def interference(self) -> Tuple[str, ...]:
        found = []
        if self.unsigned:
            found.append("%d line(s) written into the grader's event channel by the program"
                         % self.unsigned)
        if self.malformed:
            found.append("%d event(s) the grader's probe never writes (first: %s)"
                         % (self.malformed, self.first_malformed))
        return tuple(found)


class ProgramRun:
    """A student's program running under the probe.  Use ``start``, then ``stop``, then
    ``finish`` (which always cleans up: processes, pipes, temporary directory)."""

    def __init__(self, source: Path, on_event: Callable[[Dict], None], *, output_limit: int = 1 << 20,
                 sandbox: bool = False):
        self.source = Path(source)
        self.on_event = on_event
        self.output_limit = output_limit
        self.sandboxed = sandbox  # in its own namespaces (grader/running/sandbox.py); check available() first
        self._sandbox = None  # a grader.running.sandbox.Sandbox when sandboxed
        self._job: object = None  # what processes.track returned
        self.marker = ""  # set by start()
        self.process = None  # a subprocess.Popen, or a grader.running.sandbox.ForkedProcess
        self.workdir: Optional[str] = None
        self.started_at = 0.0
        self._control_fd: Optional[int] = None
        self._readers: List[threading.Thread] = []
        self._disk_watch = None  # a grader.running.limits.DiskWatch, unsandboxed
        self._folder_notes: Tuple[str, ...] = ()
        self._diag = None  # a sock_diag socket in the program's network (False: none to be had)
        self._diag_lock = threading.Lock()
        self._killed_descendants: List[int] = []
        self._lock = threading.Lock()
        # Sent to the probe in the configuration; every event line after the hello carries it.
        self.key = os.urandom(16).hex()

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, started: Optional[StartedProgram] = None) -> None:
        """Start the program, or adopt one ``launch.start_program`` started already."""
        started = started or start_program(self.source, sandbox=self.sandboxed)
        started.adopted = True  # from here on, finish() cleans up everything
        self.process, self.workdir, self.marker = started.process, started.workdir, started.marker
        self._job, self._sandbox, self.started_at = started.job, started.sandbox, started.started_at
        self._control_fd = started.control_fd
        self._disk_watch = started.disk_watch
        self._folder_notes = tuple(started.folder_notes)
        self._stdout = _StreamCapture(self.process.stdout, self.output_limit)
        self._stderr = _StreamCapture(self.process.stderr, self.output_limit)
        self._events = _EventReader(started.event_fd, self.on_event, self.key)
        self._readers = [self._stdout, self._stderr, self._events]
        for reader in self._readers:
            reader.start()
        if self._sandbox is not None:
            self._sandbox.started()  # raises SandboxError; finish() still cleans up
            self.started_at = time.monotonic()  # the program's time starts with its namespace

    def configure(self, config: Dict[str, object]) -> None:
        """Send the probe its configuration (after its hello), with the key its events must
        carry: one line of ``name=value``, each value the hex of its UTF-8 text (lone surrogates
        passed through, so any text arrives as it is), which the probe reads without json."""
        config = dict(config, key=self.key)
        self._send(" ".join("%s=%s" % (name, str(value).encode("utf-8", "surrogatepass").hex())
                            for name, value in config.items() if value is not None))

    def _send(self, line: str) -> None:
        """One line to the probe.  A gone program is not an error."""
        with self._lock:
            if self._control_fd is None:
                return
            try:
                os.write(self._control_fd, (line + "\n").encode())
            except OSError:
                pass

    def release(self) -> None:
        """Let a held program exit."""
        self._send("release")
        with self._lock:
            if self._control_fd is not None:
                os.close(self._control_fd)
                self._control_fd = None

    def new_socket(self, family: int, kind: int = socket.SOCK_STREAM) -> socket.socket:
        """A TCP socket (UDP: ``kind`` SOCK_DGRAM) for the reference counterpart, on the
        program's network: inside its network namespace when sandboxed."""
        if self._sandbox is not None:
            return self._sandbox.new_socket(family, kind)
        return plain_socket(family) if kind == socket.SOCK_STREAM else socket.socket(family, kind)

    def udp_socket_inode(self, local) -> Optional[int]:
        """The inode of the UDP socket bound at ``local`` in the program's network, 0 when there
        is none (``grader.running.kernel.udp_socket_inode``); None when that cannot be told."""
        if self._sandbox is not None and (self.process is None or self.process.poll() is not None):
            return None  # the namespace is gone
        return kernel.udp_socket_inode(local, self.process.pid if self._sandbox is not None else None)

    def holds_socket(self, inode: int) -> Optional[bool]:
        """Whether the program's processes hold the socket ``inode`` open now (None: cannot
        tell).  In a sandbox every socket of its network is the program's."""
        held = self.open_socket_inodes()
        return None if held is None else inode in held

    def owns_listener(self, port: int, ipv6: bool = False) -> bool:
        """Whether the socket listening on this loopback port is the program's own, as far as
        the OS can tell (a probe event alone is the program's word, not proof)."""
        if self._sandbox is not None or self.process is None:
            return True  # in its namespace, only the program's sockets exist
        with self._diag_socket() as diag:
            listening = kernel.listener_inodes("::1" if ipv6 else "127.0.0.1", port, diag)
        if listening is None:
            return True  # this OS cannot tell
        held = kernel.open_socket_inodes([self.process.pid])
        if held is None or held & listening:
            return True
        held = kernel.open_socket_inodes(processes.marked_pids(self.marker))  # perhaps a child listens
        return held is None or bool(held & listening)

    def connection_inode(self, local, remote) -> Optional[int]:
        """The inode of the socket at ``local`` connected to ``remote`` in the program's
        network, 0 when no process holds it (``grader.running.kernel``); None when that cannot be told."""
        if self._sandbox is not None and (self.process is None or self.process.poll() is not None):
            return None  # the namespace is gone
        pid = self.process.pid if self._sandbox is not None else None  # the holder unshared it
        with self._diag_socket() as diag:
            return kernel.connection_inode(local, remote, pid, diag)

    @contextlib.contextmanager
    def _diag_socket(self) -> Iterator[Optional[socket.socket]]:
        """The sock_diag socket of the program's network (made on first use; None when there is
        none), held by one asker at a time: the session and the counterpart ask from their own
        threads, and a question and its answer must not interleave."""
        with self._diag_lock:
            if self._diag is None:
                self._diag = self._new_diag_socket() or False
            yield self._diag or None

    def _new_diag_socket(self) -> Optional[socket.socket]:
        if self._sandbox is None:
            return kernel.diag_socket()  # an unsandboxed program shares our namespace
        try:
            return self._sandbox.new_socket(socket.AF_NETLINK)
        except (OSError, AttributeError):
            return None

    def open_socket_inodes(self) -> Optional[set]:
        """The sockets the program's processes hold open now (None: cannot tell)."""
        if self.process is None or self.process.poll() is not None:
            return None
        if self._sandbox is not None:
            pids = kernel.pid_namespace_members(self.process.pid)
        else:
            pids = [self.process.pid] + processes.marked_pids(self.marker)
        return kernel.open_socket_inodes(pids)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait(self, timeout: float) -> Optional[int]:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        """Stop the program and every process it started."""
        if self._sandbox is not None and self.process is not None:
            # The process is the sandbox's holder, which waits for the namespace's init, and the
            # kernel ends every process in the namespace before the init's own exit completes:
            # once it has ended nothing is left, and the init has counted what the program left
            # running.  No need to search the whole machine.
            if self.process.poll() is None:
                self._sandbox.end()  # the init counts what the program started, and goes
                if self.wait(_END_TIMEOUT) is None:  # no answer: by force, and the init and
                    # the program itself (PIDs 1 and 2 in there) are not the program's children
                    self._killed_descendants = processes.kill_tree(
                        self.process, self.marker, job=self._job,
                        is_wrapper=lambda pid: processes.namespace_pid(pid) in (1, 2))
            return
        if self.process is not None:
            self._killed_descendants = processes.kill_tree(self.process, self.marker, job=self._job)

    def finish(self, reader_timeout: float = 2.0) -> RunOutput:
        """Stop everything that is left, collect the output, remove the directory."""
        if self.process is None:  # it never started (start() raised)
            nothing = CapturedStream("", 0)
            return RunOutput(nothing, nothing, None, 0, 0)
        self.stop()
        self.release()
        exceeded = self._disk_watch.stop() if self._disk_watch is not None else ""
        for reader in self._readers:
            reader.join(reader_timeout)
        status = self.process.returncode if self.process else None
        left = 0
        if self._sandbox is not None:
            # The process is the sandbox's holder; the program's own status comes from its init.
            self._sandbox.collect()
            if self._sandbox.program_status() is not None:
                status = self._sandbox.program_status()
            left = self._sandbox.left_running()
            self._sandbox.close()
        with self._diag_lock:
            if self._diag:
                self._diag.close()
            self._diag = False
        if self.workdir:
            tempdirs.remove(self.workdir)  # whatever permissions the program set in there
        if getattr(self.process, "lost", False):
            from grader.running.sandbox import SandboxError

            # What the program did is unknown, so there is no grade to give: an error of ours.
            raise SandboxError("the sandbox's fork server stopped while the program ran")
        return RunOutput(
            stdout=self._stdout.result(), stderr=self._stderr.result(),
            exit_status=status, killed_descendants=len(self._killed_descendants) + left,
            bad_event_lines=self._events.bad_lines, interference=self._events.interference(),
            disk_exceeded=exceeded, folder_notes=self._folder_notes,
        )
