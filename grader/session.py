"""One grading session: the student's program, the reference counterpart, and when to stop.

The session ends as soon as the outcome can no longer change:

* the program *finished* (its code ran to the end; the probe now holds the process with its
  sockets open) and the counterpart has seen the connection end, or had ``peer_grace`` to see
  what was already on its way;
* the program *stalled*: a blocking call that nothing can ever satisfy, such as a second
  ``accept()`` after the only reference client was served, or ``recv()`` while the reference
  client (which never sends) waits for the message;
* the program's process ended by itself;
* the time limit passed.

Then the counterpart is stopped first and the program after, so "the program closed the
connection" is always decided while the program is provably alive.
"""
from __future__ import annotations

import queue
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from grader.exercise import CLIENT, SERVER, Exercise
from grader.peers import Observation, ReferenceClient, ReferenceServer
from grader.runner import ProgramRun, RunOutput

# Limits applied to the student's process by the probe before their code runs (POSIX).
MEMORY_LIMIT = 512 * 1024 * 1024
FILE_SIZE_LIMIT = 16 * 1024 * 1024

STOPPED_TIME_LIMIT = "time limit"


@dataclass(frozen=True)
class Trace:
    """Everything a session observed; the checks are functions of this."""

    role: str
    message: bytes  # what the counterpart expected (server) or sent (client)
    events: List[Dict]  # probe events, in the order the program produced them
    peer: Observation
    output: RunOutput
    finished_status: Optional[int]  # the status the program's code ended with, if it ended
    exit_status: Optional[int]  # the process's exit status; None when the grader stopped it
    stopped_because: Optional[str]  # why the grader stopped it, when it did
    started_at: float
    duration: float
    time_limit: float
    main_pid: Optional[int]


def run_session(role: str, source: Path, exercise: Exercise, message: bytes,
                time_limit: float) -> Trace:
    return _Session(role, source, exercise, message, time_limit).run()


class _Session:
    def __init__(self, role: str, source: Path, exercise: Exercise, message: bytes,
                 time_limit: float):
        self.role = role
        self.exercise = exercise
        self.message = message
        self.time_limit = time_limit
        self.inbox: "queue.Queue" = queue.Queue()
        self.events: List[Dict] = []
        self.program = ProgramRun(source, on_event=lambda e: self.inbox.put(("event", e)))
        self.peer = None
        self.main_pid: Optional[int] = None
        self.finished_status: Optional[int] = None
        self.quiet_reason: Optional[str] = None  # set once the program can make no progress
        self.quiet_since = 0.0
        self.connection_made = False  # the program's side: accept() or connect() returned
        self.accepted_conn: Optional[int] = None
        self.shut_down_socks: set = set()

    # -- main loop ------------------------------------------------------------------------------

    def run(self) -> Trace:
        started = time.monotonic()
        deadline = started + self.time_limit
        if self.role == CLIENT:
            self.peer = ReferenceServer(self.message, deadline, self.program.alive, self._peer_done)
            self.peer.start()
        stopped_because = None
        try:
            self.program.start()
            threading.Thread(target=self._watch_exit, daemon=True).start()
            deadline = self.program.started_at + self.time_limit
            if self.role == CLIENT:
                self.peer.deadline = deadline
            while True:
                now = time.monotonic()
                if self.quiet_reason is not None and self._peer_finished():
                    break
                wake_at = deadline
                if self.quiet_reason is not None:
                    grace_end = self.quiet_since + self._grace()
                    if now >= grace_end:
                        break
                    wake_at = min(deadline, grace_end)
                if now >= deadline:
                    stopped_because = STOPPED_TIME_LIMIT
                    break
                try:
                    kind, item = self.inbox.get(timeout=max(0.0, wake_at - now))
                except queue.Empty:
                    continue
                if kind == "event":
                    self._on_event(item)
                elif kind == "exit":
                    self._quiet("exited")
            if self.quiet_reason not in (None, "finished", "exited") and stopped_because is None:
                stopped_because = self.quiet_reason
        finally:
            if self.peer is not None:
                self.peer.stop()  # before the program: its verdict must not see our stop
            output = self._end_program()
        self._drain_inbox()
        exit_status = None if stopped_because else output.exit_status
        if self.program.process is not None and exit_status is not None and exit_status < 0:
            exit_status = None  # killed by a signal (e.g. a resource limit)
        return Trace(
            role=self.role, message=self.message, events=self.events,
            peer=self.peer.observation if self.peer else Observation(),
            output=output, finished_status=self.finished_status, exit_status=exit_status,
            stopped_because=stopped_because, started_at=self.program.started_at or started,
            duration=time.monotonic() - started, time_limit=self.time_limit,
            main_pid=self.main_pid,
        )

    def _grace(self) -> float:
        # Waiting for the counterpart only makes sense once a connection exists.
        return self.exercise.peer_grace if self.connection_made else 0.0

    def _peer_finished(self) -> bool:
        return self.peer is None or self.peer.done.is_set()

    def _watch_exit(self) -> None:
        self.program.process.wait()
        self.inbox.put(("exit", None))

    def _peer_done(self) -> None:
        self.inbox.put(("peer", None))

    def _quiet(self, reason: str) -> None:
        if self.quiet_reason is None:
            self.quiet_reason = reason
            self.quiet_since = time.monotonic()

    def _end_program(self) -> RunOutput:
        if self.finished_status is not None and self.quiet_reason == "finished":
            self.program.release()
            self.program.wait(timeout=1.0)
        return self.program.finish()

    def _drain_inbox(self) -> None:
        while True:
            try:
                kind, item = self.inbox.get_nowait()
            except queue.Empty:
                return
            if kind == "event":
                self.events.append(item)

    # -- events ---------------------------------------------------------------------------------

    def _on_event(self, event: Dict) -> None:
        self.events.append(event)
        kind = event["kind"]
        if kind == "hello" and self.main_pid is None:
            self.main_pid = event.get("pid")
            self.program.send(self._probe_config())
            return
        if event.get("pid") != self.main_pid:
            return  # a forked child: recorded, but it does not steer the session
        if kind == "listen" and event.get("ok") and self.role == SERVER and self.peer is None:
            self._start_reference_client(event)
        elif kind == "accept_return" and event.get("ok"):
            self.connection_made = True
            if self.accepted_conn is None:
                self.accepted_conn = event.get("conn")
        elif kind == "connect_return" and event.get("ok"):
            self.connection_made = True
        elif kind == "shutdown" and event.get("ok") and event.get("how") in (socket.SHUT_WR, socket.SHUT_RDWR):
            self.shut_down_socks.add(event.get("sock"))
        elif kind == "finished":
            self.finished_status = event.get("status")
            self._quiet("finished")
        elif kind in ("accept_call", "recv_call"):
            reason = self._stall(event)
            if reason:
                self._quiet(reason)

    def _probe_config(self) -> Dict:
        config = {
            "role": self.role,
            "display_path": str(self.program.source.resolve()),
            "hold": self.time_limit + 5.0,
            "limits": {"memory": MEMORY_LIMIT, "file_size": FILE_SIZE_LIMIT,
                       "cpu": int(self.time_limit) + 1},
        }
        if self.role == CLIENT:
            config["connect_to"] = list(self.peer.address)
        return config

    def _start_reference_client(self, listen_event: Dict) -> None:
        address = listen_event.get("address")
        if not (isinstance(address, list) and len(address) == 2):
            return
        host, port = address
        # A socket listening without bind() listens on every interface: reach it on loopback.
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        if host not in ("127.0.0.1", "::1") or not isinstance(port, int):
            return  # only ever connect to this machine's loopback
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        deadline = self.program.started_at + self.time_limit
        self.peer = ReferenceClient((host, port), family, deadline, self.program.alive,
                                    self._peer_done)
        self.peer.start()

    def _stall(self, event: Dict) -> Optional[str]:
        """Why a blocking call can never return, or None.  Only for single-threaded programs
        in blocking mode: anything else might still be woken by the program itself."""
        if event.get("timeout") is not None or event.get("threads", 1) != 1:
            return None
        if self.role != SERVER:
            return None
        if event["kind"] == "accept_call" and self.accepted_conn is not None:
            return "waiting in accept() for another client"
        if (event["kind"] == "recv_call" and event.get("sock") == self.accepted_conn
                and self.accepted_conn not in self.shut_down_socks):
            return "waiting in recv() for the client to send something"
        return None
