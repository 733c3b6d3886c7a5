"""``python -m grader server myserver.py --watch``: grade, then grade again at every save.

Polling, not a platform file-watch API, so it behaves the same on Windows, in WSL and on network
drives: every ``poll`` seconds the program's file and the ``.py`` files beside it (helper modules
it may import; bounded) are stat()ed.  A change is graded once the files' stat has stayed the
same for ``settle`` seconds, so a save caught halfway through is never graded: the program is
started (which copies its folder) and the files stat()ed again; if they moved meanwhile, that
start is thrown away and the wait begins again.

Ctrl-C (or SIGTERM) does not raise in the middle of a grading: it kills the programs of the
grading under way, whose session then cleans up as usual, and the watch ends with status 130.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, TextIO, Tuple

from grader.running.inputs import InputError

INTERRUPTED = 130  # the shell's convention for Ctrl-C, as the batch uses
POLL_VARIABLE = "GRADER_WATCH_POLL"  # seconds between two looks at the files (tests set it low)
DEFAULT_POLL = 0.4
WATCHED_FILES = 50  # .py files beside the program that are watched, at most
FOLDER_ENTRIES = 2000  # entries of its folder looked at, at most (a Downloads folder...)
CLEAR_SCREEN = "\033[2J\033[H"

# path -> (mtime_ns, size, inode), or None when it cannot be stat()ed (gone, for one)
Snapshot = Dict[str, Optional[Tuple[int, int, int]]]


def poll_interval() -> float:
    """Seconds between two polls: ``GRADER_WATCH_POLL`` when set to a sensible number."""
    try:
        value = float(os.environ.get(POLL_VARIABLE, ""))
    except ValueError:
        return DEFAULT_POLL
    return value if 0.01 <= value <= 10 else DEFAULT_POLL


def watched_files(program: Path) -> List[Path]:
    """The program and the .py files in its folder (what it can import from there), bounded."""
    found = []
    try:
        with os.scandir(program.parent if str(program.parent) else ".") as entries:
            for index, entry in enumerate(entries):
                if index >= FOLDER_ENTRIES:
                    break
                if entry.name.endswith(".py") and entry.name != program.name:
                    found.append(program.parent / entry.name)
    except OSError:  # the folder itself is gone: the program's stat says so
        pass
    return [program] + sorted(found)[:WATCHED_FILES]


def snapshot(program: Path) -> Snapshot:
    taken: Snapshot = {}
    for path in watched_files(program):
        try:
            info = os.stat(path)
            taken[str(path)] = (info.st_mtime_ns, info.st_size, info.st_ino)
        except OSError:
            taken[str(path)] = None
    return taken


class Outcome(NamedTuple):
    """One grading: a report, or the reason the file could not be graded."""

    report: object = None  # a grader.judging.results.Report
    error: str = ""


def what_changed(before: Optional[Outcome], after: Outcome) -> str:
    """One line: what differs between two gradings of the same program."""
    if before is None:
        return "first run"
    if after.error:
        return "the file cannot be graded now" if not before.error else "still cannot be graded"
    if before.error:
        return "the file can be graded again"
    old = {c.id: c for c in before.report.checks}
    changes = []
    for check in after.report.checks:
        previous = old.get(check.id)
        if previous is not None and previous.status != check.status:
            changes.append("%s %s" % (check.id, _NOW[check.status.value]))
    if not changes:
        return "no change"
    score = "score %s/%s, was %s" % (_points(after.report.score), _points(after.report.max_score),
                                     _points(before.report.score))
    return "%s (%s)" % ("; ".join(changes), score)


_NOW = {"passed": "now passes", "failed": "now fails", "skipped": "is now skipped"}


def _points(value: float) -> str:
    return "%g" % value


class Watcher:
    """The watch loop.  ``grade(runs)`` grades the program from runs already started (or
    raises InputError); ``start()`` starts the runs a grading needs; ``render(report)`` is the
    checklist.  Kept apart from the command line so its pieces can be swapped in tests."""

    def __init__(self, program: Path, start: Callable[[], list], grade: Callable[[list], object],
                 render: Callable[[object], str], out: TextIO, *, poll: float, settle: float,
                 terminal: str):
        self.program = program
        self.start = start
        self.grade = grade
        self.render = render
        self.out = out
        self.poll = poll
        self.settle = settle
        self.terminal = terminal
        self.stopping = threading.Event()
        self._runs: List = []  # the runs of the grading under way (killed on Ctrl-C)
        self._lock = threading.Lock()
        self.last: Optional[Outcome] = None
        self.gradings = 0

    # -- stopping --------------------------------------------------------------------------
    def stop(self, *_signal) -> None:
        """Ctrl-C: end the watch; a grading under way ends now, not at its time limit."""
        self.stopping.set()
        with self._lock:
            runs = list(self._runs)
        for run in runs:
            try:
                run.process.kill()  # its session sees the end and cleans up everything
            except OSError:
                pass

    # -- the loop --------------------------------------------------------------------------
    def run(self) -> int:
        graded: Optional[Snapshot] = None
        seen = snapshot(self.program)
        seen_since = time.monotonic() - self.settle  # at start: grade at once
        while not self.stopping.is_set():
            if seen != graded and time.monotonic() - seen_since >= self.settle:
                if graded is not None:
                    self._say("Changed at %s: grading..." % time.strftime("%H:%M:%S"))
                outcome = self._grade_snapshot(seen)
                if self.stopping.is_set():
                    break
                if outcome is not None:  # None: the files moved while it started; wait again
                    graded = seen
                    self._show(outcome)
            self.stopping.wait(self.poll)
            now = snapshot(self.program)
            if now != seen:
                seen, seen_since = now, time.monotonic()
        self._say("Stopped watching %s." % self.program)
        return INTERRUPTED

    def _grade_snapshot(self, expected: Snapshot) -> Optional[Outcome]:
        runs: List = []
        try:
            try:
                for run in self.start():
                    with self._lock:
                        self._runs.append(run)
                    runs.append(run)
                if self.stopping.is_set():
                    return None
                if snapshot(self.program) != expected:  # saved again while it was copied
                    return None
                return Outcome(report=self.grade(runs))
            except InputError as exc:
                return Outcome(error=str(exc))
        finally:
            with self._lock:
                self._runs = []
            for run in runs:
                run.discard()  # only does something to a run the grading did not adopt

    def _show(self, outcome: Outcome) -> None:
        change = what_changed(self.last, outcome)
        self.last = outcome
        self.gradings += 1
        text = self.render(outcome.report) if outcome.report is not None else \
            "Cannot grade %s:\n  %s\n" % (self.program, outcome.error)
        if self.terminal == "cls":  # an old Windows console without escape sequences
            os.system("cls")
            head = ""
        elif self.terminal:
            head = CLEAR_SCREEN
        else:
            head = "%s grading %d at %s %s\n" % ("=" * 20, self.gradings, time.strftime("%H:%M:%S"), "=" * 20)
        others = len(watched_files(self.program)) - 1
        beside = " and %d other .py file%s in its folder" % (others, "" if others == 1 else "s") if others else ""
        self.out.write(head + text + "\nSince the last run: %s\n" % change
                       + "Watching %s%s: save to grade again, Ctrl-C to stop.\n" % (self.program, beside))
        self.out.flush()

    def _say(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()


def screen_kind(stream) -> str:
    """How to clear ``stream``'s screen: "ansi" (a terminal that understands the escape
    sequence, on Windows once its virtual-terminal mode is on), "cls" (an old Windows console),
    or "" (not a terminal: a separator line instead)."""
    if not (hasattr(stream, "isatty") and stream.isatty()):
        return ""
    if os.name != "nt":
        return "ansi"
    return "ansi" if _windows_vt_mode(stream) else "cls"


def _windows_vt_mode(stream) -> bool:
    try:
        import ctypes
        import msvcrt

        kernel32 = ctypes.windll.kernel32
        handle = msvcrt.get_osfhandle(stream.fileno())
        mode = ctypes.c_uint32()
        if not kernel32.GetConsoleMode(handle, ctypes.byref(mode)):
            return False
        return bool(kernel32.SetConsoleMode(handle, mode.value | 0x0004))  # VT processing
    except (ImportError, AttributeError, OSError, ValueError):
        return False


def watch(role: str, program: Path, *, exercise, options, render: Callable[[object], str],
          out: TextIO = sys.stdout) -> int:
    """Grade ``program`` as ``role`` now and at every save until Ctrl-C; returns 130."""
    from grader.grading import grade_file
    from grader.running.launch import RUNS, start_program
    from grader.running.inputs import read_program

    def start() -> list:
        read_program(program)  # a file that cannot be graded starts nothing
        return [start_program(program, options.sandbox) for _ in range(RUNS[role])]

    def grade(runs: list):
        more = {"exercise": exercise} if exercise is not None else {}
        return grade_file(role, program, options, started=runs, **more)

    poll = poll_interval()
    watcher = Watcher(program, start, grade, render, out, poll=poll, settle=poll,
                      terminal=screen_kind(out))
    handled = [signal.SIGINT] + ([signal.SIGTERM] if hasattr(signal, "SIGTERM") else [])
    old = {number: signal.signal(number, watcher.stop) for number in handled}
    try:
        return watcher.run()
    finally:
        for number, handler in old.items():
            signal.signal(number, handler)
