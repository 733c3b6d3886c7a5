"""Grade many programs at once in a thread pool, and stop cleanly on Ctrl-C (or SIGTERM, which
the batch turns into the same ``KeyboardInterrupt``).

A grading mostly waits (for the student's program, for the network, for the time limit), and
each runs its program in its own subprocess on a virtual network, so threads, many more than
the cores, are the right tool.  Every task turns whatever happens into a ``RoleOutcome``: a bug
in the grader on one file becomes that student's error, never the end of the batch.
"""
from __future__ import annotations

import concurrent.futures as cf
import os
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from grader.batch.outcome import ERROR, GRADED, RoleOutcome
from grader.running.inputs import InputError
from grader.judging.results import Report

GradeFunction = Callable[[str, Path], Report]

INTERRUPTED = ("not graded: the batch was stopped (Ctrl-C or SIGTERM) before this program was "
               "graded; run the same command again to grade the rest")


def default_jobs() -> int:
    """Concurrency for work that mostly waits: well above the core count, bounded for memory."""
    return max(4, min(48, 16 * (os.cpu_count() or 1)))


class StartGate:
    """Lets only a few gradings be in their busy start at once.

    Starting a grading costs CPU (a Python interpreter, the probe, the reference peer) and the
    program's time limit runs meanwhile; dozens starting together on two cores could eat a
    program's time before its first line runs, and a grade must not depend on ``-j``.  So a
    grading holds one of ``slots`` until it ends or ``hold`` seconds have passed (by then it
    is a program waiting or hanging, which costs nothing), and the other threads wait their turn.
    """

    def __init__(self, slots: int, hold: float = 0.4) -> None:
        self._slots = threading.BoundedSemaphore(max(1, slots))
        self.hold = hold

    def run(self, work: Callable[[], RoleOutcome]) -> RoleOutcome:
        self._slots.acquire()
        released = threading.Event()
        lock = threading.Lock()

        def release() -> None:
            with lock:
                if not released.is_set():
                    released.set()
                    self._slots.release()

        timer = threading.Timer(self.hold, release)
        timer.daemon = True
        timer.start()
        try:
            return work()
        finally:
            timer.cancel()
            release()


def default_gate_slots() -> int:
    # Measured on 2 cores: 4 per core is as fast as no gate at all, and bounds the contention.
    return 4 * (os.cpu_count() or 1)


@dataclass(frozen=True)
class Task:
    key: str  # the submission's key
    role: str
    path: Path
    shown: str  # the file's path as the TA should see it (relative to the submissions folder)


def _grade_one(grade: GradeFunction, task: Task, errors: List[str], lock: threading.Lock,
               gate: StartGate) -> RoleOutcome:
    return gate.run(lambda: _grade_unguarded(grade, task, errors, lock))


def _grade_unguarded(grade: GradeFunction, task: Task, errors: List[str],
                     lock: threading.Lock) -> RoleOutcome:
    failure = ""
    for attempt in (1, 2):  # a grader failure may be transient (a race under load): retry once
        try:
            report = grade(task.role, task.path)
        except InputError as exc:
            # The engine names the file by the path it was given: show the TA's relative one
            # (for a zip, the given path is a temporary folder that is gone after the run).
            reason = str(exc).replace(str(task.path), task.shown)
            return RoleOutcome(task.role, ERROR, reason=reason, file=task.shown)
        except Exception as exc:  # a grader bug: the traceback for us, a sentence for the TA
            with lock:
                errors.append(f"{task.shown} ({task.role}), attempt {attempt}:\n{traceback.format_exc()}")
            failure = f"{type(exc).__name__}: {exc}"
            continue
        return RoleOutcome(task.role, GRADED, report=report._replace(file=task.shown), file=task.shown)
    return RoleOutcome(task.role, ERROR, file=task.shown, retry=True,
                       reason=f"the grader failed on this file ({failure}); this is a grader bug, "
                              "not the student's fault")


@dataclass
class PoolResult:
    outcomes: Dict[Tuple[str, str], RoleOutcome]  # (key, role) -> outcome
    interrupted: bool
    grader_errors: List[str]  # tracebacks of grader bugs, for grader-errors.log


def grade_all(
    tasks: Sequence[Task],
    grade: GradeFunction,
    *,
    jobs: int,
    on_done: Optional[Callable[[int], None]] = None,
    gate_slots: Optional[int] = None,
) -> PoolResult:
    """Grade every task; ``on_done(n_done)`` is called from this thread after each one.

    On Ctrl-C (or SIGTERM) the tasks not yet started are cancelled and the ones running are
    abandoned (the batch then stops their programs, so their verdicts cannot be trusted): every
    unfinished task comes back as an ERROR outcome saying it was not graded.
    """
    errors: List[str] = []
    lock = threading.Lock()
    outcomes: Dict[Tuple[str, str], RoleOutcome] = {}
    interrupted = False
    executor = cf.ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="grade")
    gate = StartGate(gate_slots or default_gate_slots())
    futures: Dict[cf.Future, Task] = {}
    try:
        for task in tasks:
            futures[executor.submit(_grade_one, grade, task, errors, lock, gate)] = task
        pending = set(futures)
        while pending:
            # A short wait keeps the main thread responsive to Ctrl-C.
            done, pending = cf.wait(pending, timeout=0.25, return_when=cf.FIRST_COMPLETED)
            for future in done:
                task = futures[future]
                outcomes[(task.key, task.role)] = future.result()
            if done and on_done is not None:
                on_done(len(outcomes))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        # Do not wait for running gradings: each ends by itself within its time limit.
        executor.shutdown(wait=not interrupted, cancel_futures=True)
    if interrupted:
        for task in tasks:
            outcomes.setdefault((task.key, task.role),
                                RoleOutcome(task.role, ERROR, reason=INTERRUPTED, file=task.shown,
                                            retry=True))
    return PoolResult(outcomes, interrupted, errors)


class Progress:
    """``done/total, elapsed, estimate`` on one rewritten terminal line (silent elsewhere)."""

    def __init__(self, total: int, stream, *, enabled: bool) -> None:
        self.total = total
        self.stream = stream
        self.enabled = enabled and total > 0
        self.start = time.monotonic()
        self._last = 0.0

    def line(self, done: int, now: Optional[float] = None) -> str:
        elapsed = (time.monotonic() if now is None else now) - self.start
        text = f"grading: {done}/{self.total} programs, {_clock(elapsed)} elapsed"
        if 0 < done < self.total:
            text += f", about {_clock(elapsed / done * (self.total - done))} left"
        return text

    def update(self, done: int) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self._last < 0.1 and done < self.total):
            return
        self._last = now
        self.stream.write("\r\x1b[K" + self.line(done, now))
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"
